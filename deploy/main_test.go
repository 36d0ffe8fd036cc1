package deploy

import (
	"net/http"
	"testing"

	"github.com/siogo/siogo/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m, http.DefaultClient.CloseIdleConnections) }

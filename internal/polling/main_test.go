package polling_test

import (
	"testing"

	"github.com/siogo/siogo/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

//go:build !unix

package websocket

import "github.com/lesismal/nbio"

func awaitPollers(*nbio.Engine, int) error { return nil }

//go:build !unix

package websocket

import "github.com/lesismal/nbio"

type probe struct{}

func (*probe) barrier() {}

func (*probe) close() {}

func awaitPollers(*nbio.Engine, int) ([]*probe, error) { return nil, nil }

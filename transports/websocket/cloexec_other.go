//go:build !unix

package websocket

import "net"

func closeOnExec(net.Conn) {}

func startEngine(start func() error) error { return start() }

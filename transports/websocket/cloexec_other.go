//go:build !unix

package websocket

import "net"

func closeOnExec(net.Conn) {}

func startEngine(start func() error) error { return start() }

func socketID(net.Conn) uint64 { return 0 }

func shutdown(net.Conn, uint64) bool { return false }

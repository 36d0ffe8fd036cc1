//go:build !unix

package siotest

import "syscall"

func setRcvbuf(int) func(network, address string, c syscall.RawConn) error { return nil }

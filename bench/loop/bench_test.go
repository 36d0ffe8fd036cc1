package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/siogo/siogo/internal/benchutil"
)

// BenchmarkRoundTrip: one client's 64-byte round trips through each
// server, plain and TLS, in one run.
//
//	cd bench/loop && go test -bench RoundTrip -benchtime 3s
func BenchmarkRoundTrip(b *testing.B) {
	for _, name := range []string{"netpoll", "nbio", "goroutine"} {
		for _, tlsOn := range []bool{false, true} {
			mode := "plain"
			if tlsOn {
				mode = "tls"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				addr := fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort())
				stop := servers[name](addr, tlsOn)
				defer stop()
				benchutil.WaitListening(addr)
				var c net.Conn
				var err error
				if tlsOn {
					c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
				} else {
					c, err = net.Dial("tcp", addr)
				}
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				buf := make([]byte, len(payload))
				b.SetBytes(int64(len(payload)))
				for b.Loop() {
					if _, err := io.WriteString(c, payload); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

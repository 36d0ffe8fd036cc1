package redisnet

import (
	"time"

	"github.com/gomodule/redigo/redis"
	"slices"
	"testing"
)

func TestClusterURL(t *testing.T) {
	for _, tc := range []struct {
		url        string
		seeds      []string
		user, pass string
	}{
		{"redis-cluster://h1:1,h2:2,h3:3", []string{"h1:1", "h2:2", "h3:3"}, "", ""},
		{"redis-cluster://h1:1/0", []string{"h1:1"}, "", ""},
		{"redis-cluster://:secret@h1:1,h2:2", []string{"h1:1", "h2:2"}, "", "secret"},
		{"redis-cluster://alice:secret@h1:1", []string{"h1:1"}, "alice", "secret"},
		{"redis-cluster://[::1]:7000, h2:2", []string{"[::1]:7000", "h2:2"}, "", ""},
	} {
		cl, err := NewCluster(tc.url, "test", time.Second, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if !slices.Equal(cl.seeds, tc.seeds) || cl.username != tc.user || cl.password != tc.pass {
			t.Errorf("%s: seeds %v user %q password %q", tc.url, cl.seeds, cl.username, cl.password)
		}
	}
	for _, bad := range []string{"redis-cluster://", "redis-cluster://h1", "redis-cluster://h1:1/2", "redis-cluster://h1:1,nohost"} {
		if _, err := NewCluster(bad, "test", time.Second, nil); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRedirection(t *testing.T) {
	for _, tc := range []struct {
		err       error
		addr      string
		ask, isOK bool
	}{
		{redis.Error("MOVED 3999 127.0.0.1:6381"), "127.0.0.1:6381", false, true},
		{redis.Error("ASK 3999 127.0.0.1:6381"), "127.0.0.1:6381", true, true},
		{redis.Error("CLUSTERDOWN The cluster is down"), "", false, false},
		{nil, "", false, false},
	} {
		addr, ask, ok := Redirection(tc.err)
		if addr != tc.addr || ask != tc.ask || ok != tc.isOK {
			t.Errorf("%v: %q %v %v", tc.err, addr, ask, ok)
		}
	}
}

package redisnet

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url        string
		addrs      []string
		cluster    bool
		tls        bool
		db         int
		user, pass string
	}{
		{"redis://127.0.0.1:6379/0", []string{"127.0.0.1:6379"}, false, false, 0, "", ""},
		{"redis://h:1/3", []string{"h:1"}, false, false, 3, "", ""},
		{"redis://h", []string{"h:6379"}, false, false, 0, "", ""},
		{"redis://", []string{"localhost:6379"}, false, false, 0, "", ""},
		{"rediss://alice:secret@h:1/2", []string{"h:1"}, false, true, 2, "alice", "secret"},
		{"redis://secret@h:1", []string{"h:1"}, false, false, 0, "", "secret"},
		{"redis-cluster://h1:1,h2:2,h3:3", []string{"h1:1", "h2:2", "h3:3"}, true, false, 0, "", ""},
		{"redis-cluster://h1:1/0", []string{"h1:1"}, true, false, 0, "", ""},
		{"redis-cluster://:secret@h1:1,h2:2", []string{"h1:1", "h2:2"}, true, false, 0, "", "secret"},
		{"redis-cluster://alice:secret@h1:1", []string{"h1:1"}, true, false, 0, "alice", "secret"},
		{"rediss-cluster://alice:p@ss@h1:1", []string{"h1:1"}, true, true, 0, "alice", "p@ss"},
		{"redis-cluster://[::1]:7000, h2:2", []string{"[::1]:7000", "h2:2"}, true, false, 0, "", ""},
	} {
		tg, err := ParseURL("test", tc.url, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if !slices.Equal(tg.Addrs, tc.addrs) || tg.Cluster != tc.cluster || (tg.TLS != nil) != tc.tls ||
			tg.DB != tc.db || tg.username != tc.user || tg.password != tc.pass {
			t.Errorf("%s: %+v", tc.url, tg)
		}
	}
	for _, bad := range []string{"redis-cluster://", "redis-cluster://h1", "redis-cluster://h1:1/2",
		"redis-cluster://h1:1,nohost", "cluster://h1:1", "redis-streams://h:1", "redis://h:1/x",
		"redis://h1:1,h2:2", "redis://h:1/0?db=2", "rediss://:hunter2@h:1/zz"} {
		_, err := ParseURL("test", bad, nil)
		if err == nil {
			t.Errorf("%s accepted", bad)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", bad, err)
		}
	}
	conf := &tls.Config{ServerName: "redis.internal"}
	if tg, _ := ParseURL("test", "rediss://h:1", conf); tg.TLS != conf {
		t.Error("rediss:// does not take the TLS configuration given")
	}
	if tg, _ := ParseURL("test", "redis://h:1", conf); tg.TLS != nil {
		t.Error("redis:// takes TLS")
	}
}

func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{redis.Error("WRONGPASS invalid username-password pair or user is disabled."), "authentication failed"},
		{redis.Error("NOAUTH Authentication required."), "authentication failed"},
		{redis.Error("ERR DB index is out of range"), "database refused"},
		{redis.Error("ERR SELECT is not allowed in cluster mode"), "database refused"},
		{redis.Error("ERR This instance has cluster support disabled"), "not a Redis Cluster"},
		{redis.Error("LOADING Redis is loading the dataset in memory"), ""},
		{redis.Error("ERR max number of clients reached"), ""},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "the server does not speak TLS"},
	} {
		if got := refusal(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
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

package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/siogo/siogo/internal/leaktest"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/siogo/siogo/adapters/adaptertest"
	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/adapters/postgres"
	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/pgtest"
	"github.com/siogo/siogo/server"
)

// One PostgreSQL serves the package's tests; each cluster has channels
// and an attachments table of its own.
var pg pgtest.Shared

func TestMain(m *testing.M) { leaktest.Main(m, pg.Stop) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newClient connects one siogo node; it closes with t, once ready.
func newClient(t *testing.T, o postgres.Options) *postgres.Client {
	t.Helper()
	o.Logger = quiet
	c, err := postgres.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for c.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not listening: %v", c.Ready())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// newCluster is a fresh cluster on the shared PostgreSQL: a channel
// prefix and a table of its own, with siogo's nodes and Node's.
func newCluster(t *testing.T) adaptertest.Cluster {
	srv := pg.Get(t)
	o := postgres.Options{URL: srv.URL, ChannelPrefix: "sio-" + randomName(), TableName: "att_" + randomName(), CreateTable: true}
	return adaptertest.Cluster{
		Broker: func(t *testing.T) cluster.Broker { return newClient(t, o) },
		NodeJS: func(t *testing.T, co cluster.Options, name string) (string, func()) {
			return startNode(t, map[string]any{
				"pg": srv.URL, "name": name, "channelPrefix": o.ChannelPrefix, "tableName": o.TableName,
				"heartbeatInterval": co.HeartbeatInterval.Milliseconds(), "heartbeatTimeout": co.HeartbeatTimeout.Milliseconds(),
			})
		},
	}
}

// startNode runs test/node/node-postgres-node.js: a Node.js socket.io
// server with @socket.io/postgres-adapter 0.5.
func startNode(t *testing.T, cfg map[string]any) (string, func()) {
	t.Helper()
	return nodetest.ServeNode(t, "node-postgres-node.js", cfg)
}

// TestConformance runs the adapter suite on a cluster of two siogo nodes
// and a Node.js node with @socket.io/postgres-adapter on one PostgreSQL,
// with the official client on each: broadcasts every way (binary, and
// over the NOTIFY threshold), rooms, the cluster calls with their acks,
// the count of nodes and the heartbeat.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, newCluster)
}

// listenRaw LISTENs to channel on a connection of its own.
func listenRaw(t *testing.T, url, channel string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return conn
}

func nextNotification(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n.Payload
}

// TestWireAsNodeWritesIt reads what a node NOTIFYs: JSON as Node's
// adapter writes it, and for binary or past the threshold a header naming
// a msgpack row of the attachments table.
func TestWireAsNodeWritesIt(t *testing.T) {
	srv := pg.Get(t)
	table := "att_" + randomName()
	c := newClient(t, postgres.Options{URL: srv.URL, ChannelPrefix: "wire", TableName: table, CreateTable: true, PayloadThreshold: 300})
	raw := listenRaw(t, srv.URL, "wire#/")
	ctx := context.Background()
	m := &cluster.Message{UID: "u1", Nsp: "/", Type: cluster.Broadcast, Data: map[string]any{
		"packet": map[string]any{"type": 2, "data": []any{"e", "é<>"}, "nsp": "/"},
		"opts":   map[string]any{"rooms": []string{"r"}, "except": []string{}, "flags": map[string]any{}},
	}}
	if _, err := c.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	want := `{"data":{"opts":{"except":[],"flags":{},"rooms":["r"]},"packet":{"data":["e","é<>"],"nsp":"/","type":2}},"nsp":"/","type":3,"uid":"u1"}`
	if got := nextNotification(t, raw); got != want {
		t.Fatalf("notified %s\nwant      %s", got, want)
	}
	for _, data := range []map[string]any{
		{"packet": map[string]any{"type": 2, "data": []any{"bin", []byte{1, 2}}, "nsp": "/"}},
		{"packet": map[string]any{"type": 2, "data": []any{"big", string(make([]byte, 400))}, "nsp": "/"}},
	} {
		m.Data = data
		if _, err := c.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		var hd struct {
			UID          string
			Type         int
			AttachmentID string
		}
		got := nextNotification(t, raw)
		if err := json.Unmarshal([]byte(got), &hd); err != nil || hd.UID != "u1" || hd.Type != 3 || hd.AttachmentID == "" {
			t.Fatalf("header %s", got)
		}
		var payload []byte
		if err := raw.QueryRow(ctx, "SELECT payload FROM "+table+" WHERE id = $1::bigint", hd.AttachmentID).Scan(&payload); err != nil {
			t.Fatal(err)
		}
		back, err := cluster.DecodeMsgpack(payload)
		if err != nil || back.UID != "u1" || back.Nsp != "/" || back.Type != cluster.Broadcast {
			t.Fatalf("attachment %+v %v", back, err)
		}
	}
}

// TestCleanup: attachments older than the cleanup interval go.
func TestCleanup(t *testing.T) {
	srv := pg.Get(t)
	table := "att_" + randomName()
	c := newClient(t, postgres.Options{URL: srv.URL, TableName: table, CreateTable: true, CleanupInterval: 200 * time.Millisecond})
	m := &cluster.Message{UID: "u", Nsp: "/", Type: cluster.Broadcast, Data: map[string]any{"b": []byte{1}}}
	if _, err := c.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attachments left", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBadOptions: a table name that is not a plain identifier is refused,
// and a URL's password never reaches the error.
func TestBadOptions(t *testing.T) {
	if _, err := postgres.NewClient(postgres.Options{URL: "postgres://u:p@localhost/db", TableName: "x; DROP TABLE y"}); err == nil {
		t.Fatal("a table name with SQL accepted")
	}
	_, err := postgres.NewClient(postgres.Options{URL: "postgres://u:s3cret@localhost:notaport/db"})
	if err == nil {
		t.Fatal("a bad URL accepted")
	}
	if s := err.Error(); strings.Contains(s, "s3cret") {
		t.Fatalf("the password is in the error: %s", s)
	}
}

// TestRestart crashes PostgreSQL under two nodes: both report it, go on
// serving, and once it is back they listen again, find each other, and
// the cluster answers as before.
func TestRestart(t *testing.T) {
	db := pgtest.Start(t)
	o := postgres.Options{URL: db.URL, CreateTable: true, Cluster: adaptertest.Options}
	o.Cluster.Logger = quiet
	var nodes []*server.Server
	var clients []*postgres.Client
	for _, name := range []string{"a", "b"} {
		c := newClient(t, o)
		srv, err := server.New(server.Options{NewAdapter: c.NewAdapter, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		srv.Of("/").OnServerSideEmit("ping", func(_ []any, ack server.Ack) { ack("pong from " + name) })
		nodes, clients = append(nodes, srv), append(clients, c)
	}
	ctx := context.Background()
	ask := func() bool {
		got, err := nodes[0].Of("/").ServerSideEmitWithAck(ctx, "ping")
		return err == nil && len(got) == 1 && got[0] == "pong from b"
	}
	waitFor(t, ask)
	db.Kill()
	waitFor(t, func() bool { return clients[0].Ready() != nil && clients[1].Ready() != nil })
	// While it is down, what a node publishes is counted lost.
	_ = nodes[0].Of("/").ServerSideEmit(ctx, "lost")
	waitFor(t, func() bool { return clients[0].Stats().PublishFailures >= 1 })
	if err := db.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return clients[0].Ready() == nil && clients[1].Ready() == nil })
	waitFor(t, ask)
	for i, c := range clients {
		if st := c.Stats(); st.ListenLosses != 1 || st.Dropped != 0 {
			t.Errorf("node %d: %+v, want one listen loss and nothing dropped", i, st)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRefused: a database that does not exist stops NewClient with a
// *RefusedError naming the address and not the password; a server that
// does not answer does not.
func TestRefused(t *testing.T) {
	srv := pg.Get(t)
	url := strings.Replace(srv.URL, "postgres@", "postgres:s3cret@", 1)
	url = strings.Replace(url, "/postgres?", "/nosuchdb?", 1)
	_, err := postgres.NewClient(postgres.Options{URL: url, Logger: quiet})
	var refused *postgres.RefusedError
	if !errors.As(err, &refused) || refused.Reason != "database refused" || refused.Addr != fmt.Sprintf("127.0.0.1:%d", srv.Port) {
		t.Fatalf("NewClient: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the password is in the error: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := fmt.Sprintf("postgres://u:p@%s/db?sslmode=disable", ln.Addr())
	ln.Close()
	c, err := postgres.NewClient(postgres.Options{URL: down, Logger: quiet})
	if err != nil {
		t.Fatalf("an unreachable server refused the client: %v", err)
	}
	if c.Ready() == nil {
		t.Error("ready without a server")
	}
	_ = c.Close()
}

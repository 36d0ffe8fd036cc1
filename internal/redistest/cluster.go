package redistest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/internal/testcert"
)

// ClusterOptions shape a Redis Cluster for a test.
type ClusterOptions struct {
	// Masters is the number of masters, 3 when zero (redis-cli's least).
	Masters int
	// Replicas per master: 0, or 1 where a failover is tested.
	Replicas int
	// NodeTimeout is cluster-node-timeout: how soon a silent master is
	// failed over. Default 1s, to keep failover tests short.
	NodeTimeout time.Duration
	// TLS serves TLS only, to clients and on the cluster bus (tls-cluster),
	// with this certificate; URL is then rediss-cluster://.
	TLS *testcert.Cert
	// ClientCerts asks each TLS client for a certificate.
	ClientCerts bool
}

// Cluster is a Redis Cluster of local redis-server processes, created with
// `redis-cli --cluster create`, each node on a free loopback port with its
// nodes.conf in a directory of its own.
type Cluster struct {
	// URL names every master for siogo's --adapter: redis-cluster://h1:p1,h2:p2,...
	URL   string
	Nodes []*ClusterNode
	dir   string
	opts  ClusterOptions
}

// ClusterNode is one redis-server of a Cluster.
type ClusterNode struct {
	Port, BusPort int
	Addr          string // 127.0.0.1:port
	dir, conf     string
	timeout       time.Duration
	tlsArgs       []string
	cmd           *exec.Cmd
}

// ErrNoRedis says that redis-server or redis-cli is not installed.
var ErrNoRedis = errors.New("redistest: redis-server and redis-cli are not installed: apt-get install -y redis-server")

// StartCluster starts a cluster that stops with t.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	c, err := NewCluster(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// NewCluster starts a cluster and waits for cluster_state:ok on every node.
// The caller must Stop it; a package's tests may share one from TestMain.
func NewCluster(opts ClusterOptions) (*Cluster, error) {
	for _, cmd := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return nil, ErrNoRedis
		}
	}
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = time.Second
	}
	dir, err := os.MkdirTemp("", "redistest-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, opts: opts}
	var targs, cliTLS []string
	if opts.TLS != nil {
		if targs, err = tlsArgs(dir, opts.TLS, opts.ClientCerts); err != nil {
			c.Stop()
			return nil, err
		}
		targs = append(targs, "--tls-cluster", "yes", "--tls-replication", "yes")
		certFile, keyFile := filepath.Join(dir, "redis-cert.pem"), filepath.Join(dir, "redis-key.pem")
		cliTLS = []string{"--tls", "--cacert", certFile, "--cert", certFile, "--key", keyFile}
	}
	n := opts.Masters * (1 + opts.Replicas)
	ports, err := freePorts(2 * n)
	if err != nil {
		c.Stop()
		return nil, err
	}
	var addrs []string
	for i := 0; i < n; i++ {
		nd := &ClusterNode{Port: ports[2*i], BusPort: ports[2*i+1], timeout: opts.NodeTimeout, tlsArgs: targs}
		nd.Addr = fmt.Sprintf("127.0.0.1:%d", nd.Port)
		nd.dir = filepath.Join(dir, strconv.Itoa(nd.Port))
		nd.conf = filepath.Join(nd.dir, "nodes.conf")
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, nd)
		addrs = append(addrs, nd.Addr)
		if err := nd.Restart(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	c.URL = "redis-cluster://" + strings.Join(addrs[:opts.Masters], ",")
	if opts.TLS != nil {
		c.URL = "rediss-cluster://" + strings.Join(addrs[:opts.Masters], ",")
	}
	args := append(cliTLS, "--cluster", "create")
	args = append(args, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(opts.Replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.WaitOK(20 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// freePorts picks n distinct free loopback ports, holding each listener
// until all are chosen.
func freePorts(n int) ([]int, error) {
	var ports []int
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Restart starts the node (again): a master killed earlier comes back as a
// replica of the one promoted in its place, as nodes.conf tells it.
func (nd *ClusterNode) Restart() error {
	port := []string{"--port", strconv.Itoa(nd.Port)}
	if nd.tlsArgs != nil {
		port = append([]string{"--port", "0", "--tls-port", strconv.Itoa(nd.Port)}, nd.tlsArgs...)
	}
	nd.cmd = exec.Command("redis-server", append(port, "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-config-file", nd.conf, "--cluster-port", strconv.Itoa(nd.BusPort),
		"--cluster-node-timeout", strconv.Itoa(int(nd.timeout/time.Millisecond)),
		"--cluster-replica-validity-factor", "0", "--dir", nd.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no")...)
	if err := nd.cmd.Start(); err != nil {
		return fmt.Errorf("redistest: starting redis-server: %w", err)
	}
	for i := 0; i < 100; i++ {
		if conn, err := net.Dial("tcp", nd.Addr); err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("redistest: redis-server on %s did not listen", nd.Addr)
}

// Kill stops the node at once (SIGKILL), as a crash would.
func (nd *ClusterNode) Kill() {
	if nd.cmd != nil && nd.cmd.Process != nil {
		_ = nd.cmd.Process.Kill()
		_, _ = nd.cmd.Process.Wait()
		nd.cmd = nil
	}
}

// Alive says whether the node runs.
func (nd *ClusterNode) Alive() bool { return nd.cmd != nil }

// Stop kills every node and removes the cluster's files.
func (c *Cluster) Stop() {
	for _, nd := range c.Nodes {
		nd.Kill()
	}
	_ = os.RemoveAll(c.dir)
}

// Do runs one command on the node at addr.
func (c *Cluster) Do(addr, cmd string, args ...any) (any, error) {
	opts := []redis.DialOption{redis.DialConnectTimeout(time.Second),
		redis.DialReadTimeout(5 * time.Second), redis.DialWriteTimeout(5 * time.Second)}
	if cert := c.opts.TLS; cert != nil {
		conf := cert.Client()
		conf.Certificates = []tls.Certificate{cert.TLS}
		opts = append(opts, redis.DialUseTLS(true), redis.DialTLSConfig(conf))
	}
	conn, err := redis.Dial("tcp", addr, opts...)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.Do(cmd, args...)
}

// Node is the node listening on addr, or nil.
func (c *Cluster) Node(addr string) *ClusterNode {
	for _, nd := range c.Nodes {
		if nd.Addr == addr {
			return nd
		}
	}
	return nil
}

// WaitOK waits until every live node reports cluster_state:ok and they all
// agree on who serves each slot.
func (c *Cluster) WaitOK(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = c.checkOK(); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("redistest: the cluster is not ok: %v", last)
}

func (c *Cluster) checkOK() error {
	var first string
	for _, nd := range c.Nodes {
		if !nd.Alive() {
			continue
		}
		info, err := redis.String(c.Do(nd.Addr, "CLUSTER", "INFO"))
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: %s", nd.Addr, strings.SplitN(info, "\n", 2)[0])
		}
		owners, err := c.owners(nd.Addr)
		if err != nil {
			return err
		}
		if first == "" {
			first = owners
		} else if owners != first {
			return fmt.Errorf("%s sees another slot map", nd.Addr)
		}
	}
	return nil
}

// owners is a node's slot map in a comparable form: ranges and masters.
func (c *Cluster) owners(addr string) (string, error) {
	v, err := redis.Values(c.Do(addr, "CLUSTER", "SLOTS"))
	if err != nil {
		return "", err
	}
	var parts []string
	for _, e := range v {
		r, _ := redis.Values(e, nil)
		if len(r) < 3 {
			continue
		}
		lo, _ := redis.Int(r[0], nil)
		hi, _ := redis.Int(r[1], nil)
		m, _ := redis.Values(r[2], nil)
		if len(m) < 2 {
			continue
		}
		port, _ := redis.Int(m[1], nil)
		parts = append(parts, fmt.Sprintf("%d-%d:%d", lo, hi, port))
	}
	slices.Sort(parts)
	return strings.Join(parts, ","), nil
}

// MasterOf is the address of the master serving slot, as a live node sees it.
func (c *Cluster) MasterOf(slot int) (string, error) {
	for _, nd := range c.Nodes {
		if !nd.Alive() {
			continue
		}
		v, err := redis.Values(c.Do(nd.Addr, "CLUSTER", "SLOTS"))
		if err != nil {
			continue
		}
		for _, e := range v {
			r, _ := redis.Values(e, nil)
			if len(r) < 3 {
				continue
			}
			lo, _ := redis.Int(r[0], nil)
			hi, _ := redis.Int(r[1], nil)
			if slot < lo || slot > hi {
				continue
			}
			m, _ := redis.Values(r[2], nil)
			port, _ := redis.Int(m[1], nil)
			return fmt.Sprintf("127.0.0.1:%d", port), nil
		}
		return "", fmt.Errorf("redistest: slot %d is served by no one", slot)
	}
	return "", errors.New("redistest: no live node")
}

// Masters are the addresses of the live masters.
func (c *Cluster) Masters() []string {
	var out []string
	for _, nd := range c.Nodes {
		if !nd.Alive() {
			continue
		}
		role, err := redis.Values(c.Do(nd.Addr, "ROLE"))
		if err == nil && len(role) > 0 {
			if r, _ := redis.String(role[0], nil); r == "master" {
				out = append(out, nd.Addr)
			}
		}
	}
	return out
}

// NodeID is the cluster id of the node at addr.
func (c *Cluster) NodeID(addr string) (string, error) {
	return redis.String(c.Do(addr, "CLUSTER", "MYID"))
}

// MoveSlot hands slot to the master at to, the way `redis-cli --cluster
// reshard` does: IMPORTING on the target, MIGRATING on the source, the
// slot's keys moved with MIGRATE (a command meanwhile meets ASK for a key
// already moved), then NODE on every master. It waits until all nodes
// agree.
func (c *Cluster) MoveSlot(slot int, to string) error {
	from, err := c.MasterOf(slot)
	if err != nil {
		return err
	}
	if from == to {
		return nil
	}
	fromID, err := c.NodeID(from)
	if err != nil {
		return err
	}
	toID, err := c.NodeID(to)
	if err != nil {
		return err
	}
	if _, err := c.Do(to, "CLUSTER", "SETSLOT", slot, "IMPORTING", fromID); err != nil {
		return fmt.Errorf("redistest: SETSLOT IMPORTING: %w", err)
	}
	if _, err := c.Do(from, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID); err != nil {
		return fmt.Errorf("redistest: SETSLOT MIGRATING: %w", err)
	}
	host, port, err := net.SplitHostPort(to)
	if err != nil {
		return err
	}
	for {
		keys, err := redis.Strings(c.Do(from, "CLUSTER", "GETKEYSINSLOT", slot, 100))
		if err != nil {
			return fmt.Errorf("redistest: GETKEYSINSLOT: %w", err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if _, err := c.Do(from, "MIGRATE", args...); err != nil {
			return fmt.Errorf("redistest: MIGRATE: %w", err)
		}
	}
	// The target first, then the source, then everyone, as redis-cli does.
	order := []string{to, from}
	for _, m := range c.Masters() {
		if m != to && m != from {
			order = append(order, m)
		}
	}
	for _, m := range order {
		if _, err := c.Do(m, "CLUSTER", "SETSLOT", slot, "NODE", toID); err != nil {
			return fmt.Errorf("redistest: SETSLOT NODE on %s: %w", m, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		agree := true
		for _, nd := range c.Nodes {
			if !nd.Alive() {
				continue
			}
			if owner, err := c.ownerSeenBy(nd.Addr, slot); err != nil || owner != to {
				agree = false
				break
			}
		}
		if agree {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("redistest: the nodes do not agree that %s serves slot %d", to, slot)
}

func (c *Cluster) ownerSeenBy(addr string, slot int) (string, error) {
	v, err := redis.Values(c.Do(addr, "CLUSTER", "SLOTS"))
	if err != nil {
		return "", err
	}
	for _, e := range v {
		r, _ := redis.Values(e, nil)
		lo, _ := redis.Int(r[0], nil)
		hi, _ := redis.Int(r[1], nil)
		if slot >= lo && slot <= hi {
			m, _ := redis.Values(r[2], nil)
			port, _ := redis.Int(m[1], nil)
			return fmt.Sprintf("127.0.0.1:%d", port), nil
		}
	}
	return "", nil
}

// Failover kills the master serving slot (SIGKILL) and waits until its
// replica serves the slot; it returns the dead and the new master.
func (c *Cluster) Failover(slot int, timeout time.Duration) (dead, promoted string, err error) {
	dead, err = c.MasterOf(slot)
	if err != nil {
		return "", "", err
	}
	c.Node(dead).Kill()
	promoted, err = c.WaitPromoted(slot, dead, timeout)
	return dead, promoted, err
}

// WaitPromoted waits until a live master other than dead serves slot and
// the cluster is ok again.
func (c *Cluster) WaitPromoted(slot int, dead string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m, err := c.MasterOf(slot); err == nil && m != dead && c.checkOK() == nil {
			return m, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("redistest: no replica took slot %d over from %s", slot, dead)
}

// Shared is one Cluster that a package's tests share, created on first
// use (creating one takes seconds); the package's TestMain stops it:
//
//	var cluster = redistest.Shared{Options: redistest.ClusterOptions{Replicas: 1}}
//	func TestMain(m *testing.M) { code := m.Run(); cluster.Stop(); os.Exit(code) }
type Shared struct {
	Options ClusterOptions
	once    sync.Once
	c       *Cluster
	err     error
}

// Get starts the cluster on first use and waits until it is whole.
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() { s.c, s.err = NewCluster(s.Options) })
	if s.err != nil {
		t.Fatal(s.err)
	}
	if err := s.c.WaitOK(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	return s.c
}

// Stop stops the cluster if it was started.
func (s *Shared) Stop() {
	if s.c != nil {
		s.c.Stop()
	}
}

// MasterURLs are the masters the cluster was created with, as the redis
// npm package takes them (redis://host:port, rediss:// with TLS).
func (c *Cluster) MasterURLs() []string {
	var out []string
	_, masters, _ := strings.Cut(c.URL, "://")
	for _, a := range strings.Split(masters, ",") {
		out = append(out, c.scheme()+a)
	}
	return out
}

// LiveURLs are every live node, replicas included, as redis://host:port
// (rediss:// with TLS).
func (c *Cluster) LiveURLs() []string {
	var out []string
	for _, nd := range c.Nodes {
		if nd.Alive() {
			out = append(out, c.scheme()+nd.Addr)
		}
	}
	return out
}

func (c *Cluster) scheme() string {
	if c.opts.TLS != nil {
		return "rediss://"
	}
	return "redis://"
}

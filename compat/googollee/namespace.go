package socketio

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/siogo/siogo/server"
)

// namespace holds a namespace's handlers and its connections.
type namespace struct {
	name      string
	srv       *Server
	nsp       *server.Namespace
	clustered bool // made with the Redis adapter

	mu           sync.RWMutex
	events       map[string]*funcHandler
	onConnect    func(Conn) error
	onDisconnect func(Conn, string)
	onError      func(Conn, error)
	conns        map[string]*conn // by siogo socket id
}

// admit is the namespace's siogo middleware: it runs OnConnect, whose
// error refuses the socket.
func (ns *namespace) admit(s *server.Socket) error {
	sess := s.Session()
	c := &conn{ns: ns, s: s, sessID: sess.ID()}
	if st := ns.srv.sessions.get(sess.ID()); st != nil {
		c.local = st.local
		st.mu.Lock()
		closeReq := st.closeReq
		if ns.name == "/" {
			c.ctx = st.ctx
		}
		st.admitted = append(st.admitted, c)
		st.mu.Unlock()
		if closeReq {
			sess.Close()
			return errors.New("connection closed by ConnInitor")
		}
	}
	ns.mu.Lock()
	ns.conns[s.ID()] = c
	onConnect := ns.onConnect
	ns.mu.Unlock()
	if onConnect == nil {
		return nil
	}
	err := callConnect(onConnect, c)
	if err != nil {
		ns.srv.sessions.settle(c)
		ns.mu.Lock()
		delete(ns.conns, s.ID())
		ns.mu.Unlock()
		// The rooms OnConnect joined: the socket never connects, so siogo
		// would not leave them for it.
		s.Namespace().Adapter().DelAll(s.ID())
		ns.reportError(c, err)
	}
	return err
}

func callConnect(f func(Conn) error, c *conn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connect handler panicked: %v", r)
		}
	}()
	return f(c)
}

// connected finishes a socket that OnConnect let in: the session's room,
// the event handlers, and what OnConnect emitted.
func (ns *namespace) connected(s *server.Socket) {
	ns.mu.Lock()
	c := ns.conns[s.ID()]
	if c == nil {
		c = &conn{ns: ns, s: s, sessID: s.Session().ID()}
		ns.conns[s.ID()] = c
	}
	events := make([]string, 0, len(ns.events))
	for e := range ns.events {
		events = append(events, e)
	}
	c.listening = true
	ns.mu.Unlock()
	ns.srv.sessions.settle(c)
	if c.sessID != s.ID() {
		s.Join(c.sessID)
	}
	s.OnDisconnect(func(reason string) {
		ns.mu.Lock()
		if ns.conns[s.ID()] == c {
			delete(ns.conns, s.ID())
		}
		h := ns.onDisconnect
		ns.mu.Unlock()
		if h != nil {
			h(c, reason)
		}
	})
	s.OnError(func(err error) { ns.reportError(c, err) })
	for _, e := range events {
		c.listen(e)
	}
	c.setConnected()
}

// dispatch runs the handler of event with the client's arguments, and
// sends its results as the acknowledgement if the client asked for one.
func (ns *namespace) dispatch(c *conn, event string, args []any, ack server.Ack) {
	ns.mu.RLock()
	h := ns.events[event]
	ns.mu.RUnlock()
	if h == nil {
		return
	}
	vals, err := h.decode(args)
	if err != nil {
		ns.reportError(c, err)
		return
	}
	ret, err := h.call(append([]reflect.Value{reflect.ValueOf(c)}, vals...))
	if err != nil {
		ns.reportError(c, err)
		return
	}
	if ack != nil {
		ack(values(ret)...)
	}
}

func (ns *namespace) reportError(c *conn, err error) {
	ns.mu.RLock()
	h := ns.onError
	ns.mu.RUnlock()
	if h != nil {
		h(c, err)
	} else {
		ns.srv.log.Debug("socketio: error without OnError", "namespace", ns.name, "err", err)
	}
}

// forget drops c if its socket never connected.
func (ns *namespace) forget(c *conn) {
	ns.mu.Lock()
	if !c.listening && ns.conns[c.s.ID()] == c {
		delete(ns.conns, c.s.ID())
	}
	ns.mu.Unlock()
}

// connList is the namespace's connections; ns.mu may be held.
func (ns *namespace) connList() []*conn {
	out := make([]*conn, 0, len(ns.conns))
	for _, c := range ns.conns {
		if c.isConnected() {
			out = append(out, c)
		}
	}
	return out
}

// conns is connList, taking the lock.
func (ns *namespace) list() []*conn {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return ns.connList()
}

// inRoom is this node's connections in room.
func (ns *namespace) inRoom(room string) []*conn {
	if room == "" {
		return nil
	}
	ids := ns.nsp.Adapter().Sockets(room)
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	out := make([]*conn, 0, len(ids))
	for _, id := range ids {
		if c := ns.conns[id]; c != nil {
			out = append(out, c)
		}
	}
	return out
}

// own returns the connection of this namespace that is connection or
// shares its session, or nil.
func (ns *namespace) own(connection Conn) *conn {
	c, ok := connection.(*conn)
	if !ok {
		return nil
	}
	if c.ns == ns {
		return c
	}
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	for _, o := range ns.conns {
		if o.sessID == c.sessID {
			return o
		}
	}
	return nil
}

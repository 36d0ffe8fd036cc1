package admin

import (
	"maps"
	"strings"

	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

// adminKey is the key of socket data where, as Node's, the admin keeps a
// socket's client id and transport, so that other nodes see them through
// FetchSockets; the UI is shown the data without it.
const adminKey = "_admin"

// watch reports a namespace's sockets, rooms and events to the UI
// (development mode).
func (a *Admin) watch(n *server.Namespace) {
	name := n.Name()
	isAdmin := n == a.nsp
	n.OnConnection(func(s *server.Socket) {
		transport := s.Transport()
		a.tagData(s, transport)
		a.emit("socket_connected", a.serializeLocal(s), now())
		if transport == transports.TransportPolling {
			a.pollMu.Lock()
			a.polling[s] = struct{}{}
			a.pollMu.Unlock()
		}
		if !isAdmin {
			s.OnAny(func(event string, args []any) {
				a.emit("event_received", name, s.ID(), append([]any{event}, args...), now())
			})
			s.OnAnyOutgoing(func(event string, args []any) {
				a.emit("event_sent", name, s.ID(), append([]any{event}, args...), now())
			})
		}
		s.OnDisconnect(func(reason string) {
			a.pollMu.Lock()
			delete(a.polling, s)
			a.pollMu.Unlock()
			a.emit("socket_disconnected", name, s.ID(), reason, now())
		})
	})
	n.OnSocketData(func(s *server.Socket, data any) {
		if _, own := a.tagging.Load(s); own || !s.Connected() {
			return
		}
		a.emit("socket_updated", map[string]any{"id": s.ID(), "nsp": name, "data": publicData(data)})
	})
	n.OnRoomJoin(func(room, id string) { a.emit("room_joined", name, room, id, now()) })
	n.OnRoomLeave(func(room, id string) { a.emit("room_left", name, room, id, now()) })
}

// checkUpgrades tells the UI of the sockets that moved to WebSocket.
func (a *Admin) checkUpgrades() {
	a.pollMu.Lock()
	var moved []*server.Socket
	for s := range a.polling {
		if s.Transport() != transports.TransportPolling {
			moved = append(moved, s)
			delete(a.polling, s)
		}
	}
	a.pollMu.Unlock()
	for _, s := range moved {
		t := s.Transport()
		a.tagData(s, t)
		a.emit("socket_updated", map[string]any{"id": s.ID(), "nsp": s.Namespace().Name(), "transport": t})
	}
}

// tagData records the client id and transport in the socket's data, as
// Node's admin does, when the data is a map (or unset).
func (a *Admin) tagData(s *server.Socket, transport string) {
	tag := map[string]any{"clientId": clientID(s), "transport": transport}
	// The UI is not told of this change: it learns the transport apart.
	a.tagging.Store(s, struct{}{})
	defer a.tagging.Delete(s)
	switch d := s.Data().(type) {
	case nil:
		s.SetData(map[string]any{adminKey: tag})
	case map[string]any:
		// A copy: the map may be read elsewhere (an adapter encoding it).
		c := maps.Clone(d)
		c[adminKey] = tag
		s.SetData(c)
	}
}

// clientID is the start of the Engine.IO session id: Node shows 12
// characters of it, the rest being sensitive.
func clientID(s *server.Socket) string {
	id := s.Session().ID()
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// serializeLocal describes a socket of this node.
func (a *Admin) serializeLocal(s *server.Socket) map[string]any {
	h := s.Handshake()
	if host := s.Session().Host(); host != "" && h.Headers.Get("Host") == "" {
		// Node's headers have the Host that net/http keeps apart.
		h.Headers = h.Headers.Clone()
		h.Headers.Set("Host", host)
	}
	return serialize(s.ID(), clientID(s), s.Transport(), s.Namespace().Name(), s.Data(), h, s.Rooms())
}

// serializeRemote describes a socket FetchSockets found, live when it is
// on this node.
func (a *Admin) serializeRemote(n *server.Namespace, r *server.RemoteSocket) map[string]any {
	if s := n.Socket(r.ID); s != nil {
		return a.serializeLocal(s)
	}
	var clientID, transport any
	if d, ok := r.Data.(map[string]any); ok {
		if tag, ok := d[adminKey].(map[string]any); ok {
			clientID, transport = tag["clientId"], tag["transport"]
		}
	}
	return serialize(r.ID, clientID, transport, n.Name(), r.Data, r.Handshake, r.Rooms)
}

// serialize is Node's SerializedSocket, field by field.
func serialize(id string, clientID, transport any, nsp string, data any, h server.Handshake, rooms []string) map[string]any {
	headers := map[string]any{}
	for k, v := range h.Headers {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	query := map[string]any{}
	for k, v := range h.Query {
		switch len(v) {
		case 0:
		case 1:
			query[k] = v[0]
		default:
			query[k] = v
		}
	}
	address := h.Address
	if v, _ := headers["x-forwarded-for"].(string); v != "" {
		address = v
	}
	if v, _ := headers["cf-connecting-ip"].(string); v != "" {
		address = v
	}
	if rooms == nil {
		rooms = []string{}
	}
	return map[string]any{
		"id":        id,
		"clientId":  clientID,
		"transport": transport,
		"nsp":       nsp,
		"data":      publicData(data),
		"handshake": map[string]any{
			"address": address,
			"headers": headers,
			"query":   query,
			"issued":  h.Time.UnixMilli(),
			"secure":  h.Secure,
			// As Node's `new Date() + ""`.
			"time":    h.Time.Format("Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"),
			"url":     h.URL,
			"xdomain": h.XDomain,
		},
		"rooms": rooms,
	}
}

// publicData is the socket's data without the admin's own key.
func publicData(data any) any {
	switch d := data.(type) {
	case nil:
		return map[string]any{}
	case map[string]any:
		if _, ok := d[adminKey]; !ok {
			return d
		}
		c := maps.Clone(d)
		delete(c, adminKey)
		return c
	}
	return data
}

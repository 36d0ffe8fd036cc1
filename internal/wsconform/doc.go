// Package wsconform runs the cases of the Autobahn testsuite
// (crossbario/autobahn-testsuite, its fuzzing client: wstest -m
// fuzzingclient) against a WebSocket server, from outside, and judges
// each as Autobahn does. It is siogo's own code, written from Autobahn's
// case definitions (autobahntestsuite/case/*.py); it needs nothing of
// siogo, only a ws:// URL, so that it can be pointed at any server.
//
//	rep := wsconform.Run(wsconform.Config{URL: "ws://127.0.0.1:3000/ws"})
//	fmt.Print(rep.Table())
//	for _, r := range rep.Failed() { ... }
//
// # Cases
//
// Every case keeps its Autobahn id, description and expectations:
//
//	1.1.1-1.2.8   framing: text and binary messages of 0 to 65536 bytes, one chopped in 997-byte writes
//	2.1-2.11      pings and pongs: payloads, 126 bytes (fails), unsolicited pongs, 10 pings, octet-wise chops
//	3.1-3.7       reserved bits on text, binary, ping and close frames (fail 1002)
//	4.1.1-4.2.5   reserved opcodes 3-7 and 11-15, some after a valid message (fail 1002)
//	5.1-5.20      fragmentation: fragmented control frames, continuations with nothing to continue,
//	              pings between fragments (5.19 and 5.20: the first pong before the message ends)
//	6.1.1-6.23.7  UTF-8: empty and fragmented text, fragments split inside code points, invalid text (fail
//	              1007), fail-fast (6.4), and Markus Kuhn's decoder stress test (6.5-6.23)
//	7.1.1-7.13.2  closing: close then more frames, close payloads of 0, 1, 2, 125, 126 bytes, invalid UTF-8
//	              reasons, valid codes (echoed) and invalid ones (1002), 5000 and 65535 (informational)
//	9.1.1-9.8.6   limits: 64 KiB to 16 MiB messages, 4 MiB messages in fragments of 64 B to 4 MiB, 1 MiB
//	              messages in write chops of 64 B to 2 KiB, and Count round trips of 0 to 4096 bytes
//	10.1.1        a 64 KiB message in 1300-byte fragments
//	12.1.1-12.5.18  permessage-deflate, default offer: five kinds of data, 16 B to 128 KiB messages,
//	              whole or in frames of 256 B to 32 KiB
//	13.1.1-13.7.18  permessage-deflate with Autobahn's seven offers (server_no_context_takeover,
//	              server_max_window_bits 9 and 15, and three offers in one header)
//
// Sections 8 and 11 do not exist in Autobahn; its 9.9 and 9.10 are disabled there and here. The
// harness adds section L, the endpoint's max message size: a message of exactly Config.MaxMessage
// bytes comes back, one byte more closes with 1009, whole, in fragments, or deflated (the bound is on
// what a message inflates to).
//
// # Judgement
//
// As Autobahn's Case.onConnectionLost: the events received (messages,
// pongs, the case's own timeouts) must equal one expected outcome, which
// gives the behaviour (OK, NON-STRICT; none: FAILED); the closing
// handshake is then judged: closed by the wrong endpoint (FAILED), not
// clean where required (UNCLEAN), a close code not expected (WRONG CODE),
// TCP dropped by the client (FAILED BY CLIENT), else OK. Cases 7.x turn a
// wrong code into a failed case, 7.1.6 and 7.13.x are INFORMATIONAL, the
// compression cases UNIMPLEMENTED when the server declines the extension.
// Result.Verdict joins the two: FAILED when either failed (UNCLEAN and
// WRONG CODE included, the colours of Autobahn's report), NON-STRICT when
// the client had to drop the TCP connection, else the behaviour.
//
// The client is stricter than Autobahn's in one way: whatever the server
// breaks of RFC 6455 or 7692 (a masked frame, a bad close code, invalid
// UTF-8, an extension response that accepts no offer, a back-reference
// past the window it agreed to) fails the case, whatever else happened.
// Pings from the server are answered and left out of the judgement.
//
// # Differences from Autobahn's run
//
//   - Waits. Autobahn waits fixed times (killAfter, closeAfter: 0.5 to
//     1000 s). Here every wait ends as soon as what it waits for happens
//     (the expected events, the server's close, its TCP drop), and
//     Config.Timeout bounds it: only a failing server costs time. The one
//     fixed wait is Config.Pause in 6.4, where the case must see the
//     server not fail a connection yet. 5.19 and 5.20 wait for the first
//     pong where Autobahn waits 1 s.
//   - Sizes and counts. Config.Count (9.7, 9.8) and Config.DeflateCount
//     (12, 13) set the number of messages (Autobahn: 1000); messages
//     larger than the endpoint's max message size, or Config.SizeCap, are
//     cut down to it, and the case notes it.
//   - Test data. Autobahn's compression data (a JSON and an HTML report,
//     a bitmap, Goethe's Faust, a PDF) are replaced by generated data of
//     the same kinds and sizes.
//   - Deflate. The client compresses with Go's compress/flate (BestSpeed;
//     Huffman only when the server limits the client's window) and
//     decodes with a decoder of its own where the server's window or
//     context must be checked.
//   - Endpoints. Echo is Autobahn's echo server; SocketIO carries each
//     case's messages as Socket.IO events (see SocketIO).
//
// # The Socket.IO endpoint
//
// Every case applies to a Socket.IO server's WebSocket too: what a case
// tests is the server's WebSocket layer, which must fail the same frames
// with the same codes whatever runs above it, and the demo contract's echo
// of the "message" event stands for Autobahn's echo. So a text message P
// travels as 42["message","P"], the case's fragments cut where the case
// cuts them (the event's head in the first fragment, its tail in the
// last) and a binary message as the event's attachment; the echo event
// (or the attachment after its header) is the case's message. What this
// changes: a text frame is 16 bytes longer than the case's (the exact
// 125/126 and 65535/65536 length boundaries are crossed by the binary
// cases, whose attachments go as they are); bytes JSON must escape (the
// quote, the backslash, control bytes) are escaped, every other byte,
// invalid UTF-8 included, goes as it is; the max message size leaves 16
// bytes less room to a text case. The Engine.IO heartbeat is answered,
// the demo's timestamp events are ignored, and anything else the server
// sends is kept as a message, so that it fails the case.
package wsconform

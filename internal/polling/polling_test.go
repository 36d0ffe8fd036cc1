package polling

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAppendJSONP(t *testing.T) {
	tests := []struct{ index, in, want string }{
		{"0", "4hi", `___eio[0]("4hi");`},
		{"12", "a\"b\\c\n\r\t\b\f", `___eio[12]("a\"b\\c\n\r\t\b\f");`},
		{"3x<script>", "\x01\x1f", `___eio[3]("\u0001\u001f");`},
		{"", "\u2028\u2029 é 😀 </script>", `___eio[]("\u2028\u2029 é 😀 </script>");`},
		{"1", "\xff", `___eio[1]("\ufffd");`},
	}
	for _, tt := range tests {
		if got := string(AppendJSONP(nil, tt.index, []byte(tt.in))); got != tt.want {
			t.Errorf("AppendJSONP(%q, %q) = %s, want %s", tt.index, tt.in, got, tt.want)
		}
	}
}

func TestDecodeJSONP(t *testing.T) {
	tests := []struct{ body, want string }{
		{"d=4hello", "4hello"},
		{"d=4a%5Cnb", "4a\nb"},           // \n escape: a newline
		{"d=4a%5C%5Cnb", "4a\\nb"},       // \\n: a backslash then n, as Node leaves it
		{"d=4a+b%26c", "4a b&c"},         // form encoding
		{"x=1&d=6%3A4%E2%82%AC", "6:4€"}, // other fields ignored
	}
	for _, tt := range tests {
		got, err := DecodeJSONP([]byte(tt.body))
		if err != nil || string(got) != tt.want {
			t.Errorf("DecodeJSONP(%q) = %q, %v; want %q", tt.body, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "e=1", "d=%zz"} {
		if _, err := DecodeJSONP([]byte(bad)); !errors.Is(err, ErrBadJSONP) {
			t.Errorf("DecodeJSONP(%q): %v, want ErrBadJSONP", bad, err)
		}
	}
}

func FuzzDecodeJSONP(f *testing.F) {
	for _, s := range []string{"d=4hello", "d=4a%5Cnb", "d=%5C%5C%5Cn", "d=", "&&&", "d=%"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := DecodeJSONP(body)
		if err == nil && len(out) > len(body) {
			t.Fatalf("decoding grew %d bytes into %d", len(body), len(out))
		}
	})
}

func TestAcceptedEncoding(t *testing.T) {
	for h, want := range map[string]string{
		"":                        "",
		"gzip, deflate, br":       "gzip",
		"deflate":                 "deflate",
		"br":                      "",
		"deflate;q=1, gzip;q=0.5": "deflate",
		"gzip;q=0, deflate":       "deflate",
		"gzip;q=0":                "",
		"*":                       "gzip",
		"identity":                "",
		"GZIP":                    "gzip",
	} {
		if got := AcceptedEncoding(h); got != want {
			t.Errorf("AcceptedEncoding(%q) = %q, want %q", h, got, want)
		}
	}
}

func TestReadBody(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("12345"))
	if b, err := ReadBody(r, 5); err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: %q %v", b, err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader("123456"))
	if _, err := ReadBody(r, 5); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	// A body that lies about its length is still cut at the limit.
	r = httptest.NewRequest("POST", "/", strings.NewReader("123456"))
	r.ContentLength = -1
	if _, err := ReadBody(r, 5); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("chunked over the limit: %v", err)
	}
}

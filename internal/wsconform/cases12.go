package wsconform

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
)

// Sections 12 and 13: permessage-deflate. Each case sends Config.Count
// messages (Config.DeflateCount; Autobahn: 1000) of a size, slid along a test text, each once
// the previous one's echo is back; 12 with the default offer and five
// kinds of data, 13 with seven combinations of parameters.
//
// Autobahn's test data (a JSON report, a bitmap picture, Goethe's Faust, an
// HTML report, a PDF) are not copied: the harness generates data of the
// same kinds and sizes, deterministically.

// msgSizes are Autobahn's: message size, and the size of the frames the
// client cuts its compressed message into (0: one frame).
var msgSizes = [][2]int{
	{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0}, {32768, 0}, {65536, 0}, {131072, 0},
	{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256},
	{131072, 1024}, {131072, 4096}, {131072, 32768},
}

type testData struct {
	name, desc string
	binary     bool
	data       func() []byte
}

var testDatas = []testData{
	{"json_data1", "Large JSON data file (utf8, generated)", false, jsonData},
	{"lena512", "Bitmap 512x512 grey (binary, generated)", true, bitmapData},
	{"gutenberg_faust", "Human readable text, German verse (binary, generated)", true, verseData},
	{"html_data1", "Large HTML file (utf8, generated)", false, htmlData},
	{"ooms", "A larger PDF-like file, mostly incompressible (binary, generated)", true, pdfData},
}

// deflateParams are 13.1 to 13.7: the client's offers, in order.
var deflateParams = [][]Offer{
	{{}},
	{{ServerNoContextTakeover: true}},
	{{ServerMaxWindowBits: 9}},
	{{ServerMaxWindowBits: 15}},
	{{ServerNoContextTakeover: true, ServerMaxWindowBits: 9}},
	{{ServerNoContextTakeover: true, ServerMaxWindowBits: 15}},
	{{ServerNoContextTakeover: true, ServerMaxWindowBits: 9}, {ServerNoContextTakeover: true}, {}},
}

func deflateCases(cfg *Config) []*Case {
	var cs []*Case
	for j, td := range testDatas {
		for i, sz := range msgSizes {
			cs = append(cs, compressCase(fmt.Sprintf("12.%d.%d", j+1, i+1), cfg, td, sz, []Offer{{}}))
		}
	}
	for j, offers := range deflateParams {
		for i, sz := range msgSizes {
			cs = append(cs, compressCase(fmt.Sprintf("13.%d.%d", j+1, i+1), cfg, testDatas[0], sz, offers))
		}
	}
	return cs
}

func compressCase(id string, cfg *Config, td testData, sz [2]int, offers []Offer) *Case {
	var o []string
	for _, x := range offers {
		o = append(o, x.String())
	}
	desc := fmt.Sprintf("Send %d compressed messages each of payload size %d, auto-fragment to %d octets. %s. Offer: %s.",
		cfg.DeflateCount, sz[0], sz[1], td.desc, strings.Join(o, ", "))
	return &Case{ID: id, Description: desc, offers: offers, run: func(s *S) {
		s.Stream()
		s.ExpectClose(true, true, codeNormal)
		if !s.Deflate() {
			s.Set(Unimplemented, "permessage-deflate was declined.")
			s.Close(codeNormal)
			return
		}
		data := td.data()
		ptr := 0
		for range s.cfg.DeflateCount {
			msg := make([]byte, 0, sz[0])
			for len(msg) < sz[0] {
				n := min(sz[0]-len(msg), len(data)-ptr)
				msg = append(msg, data[ptr:ptr+n]...)
				ptr = (ptr + n) % len(data)
			}
			s.Message(msg, td.binary, sz[1])
			ev, ok := s.Next()
			if !checkEcho(s, ev, ok, msg, td.binary) {
				s.Close(codeNormal)
				return
			}
		}
		s.Set(OK, "Ok, received all echo'ed messages in time.")
		s.Close(codeNormal)
	}}
}

func onceData(f func(r *rand.Rand) []byte) func() []byte {
	return sync.OnceValue(func() []byte { return f(rand.New(rand.NewPCG(7692, 6455))) })
}

var syllables = []string{"ka", "ro", "mi", "te", "su", "lan", "der", "bo", "vi", "xen", "qua", "ly", "pe", "tor", "an", "ul"}

func word(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(syllables[r.IntN(len(syllables))])
	}
	return b.String()
}

// jsonData is a results report of the harness's own cases, about 190 KB
// of indented JSON, as Autobahn's data1.json is its report.
var jsonData = onceData(func(r *rand.Rand) []byte {
	var b bytes.Buffer
	b.WriteString("{\n")
	for a := range 2 {
		fmt.Fprintf(&b, "   %q: {\n", word(r, 3)+fmt.Sprintf("/%d.%d.%d", a, r.IntN(10), r.IntN(10)))
		for i := 0; b.Len() < (a+1)*95000; i++ {
			id := fmt.Sprintf("%d.%d.%d", 1+i/100, 1+i/10%10, 1+i%10)
			beh := []string{"OK", "OK", "OK", "NON-STRICT", "INFORMATIONAL", "FAILED"}[r.IntN(6)]
			fmt.Fprintf(&b, "      %q: {\n         \"behavior\": %q,\n         \"behaviorClose\": \"OK\",\n         \"duration\": %d,\n         \"remoteCloseCode\": %d,\n         \"reportfile\": \"%s_case_%s.json\"\n      },\n",
				id, beh, r.IntN(2000), []int{1000, 1002, 1007}[r.IntN(3)], word(r, 2), strings.ReplaceAll(id, ".", "_"))
		}
		b.WriteString("   },\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
})

// bitmapData is a 512x512 grey picture with an 8-bit palette, smooth
// shapes and some noise, as a bitmap file is laid out.
var bitmapData = onceData(func(r *rand.Rand) []byte {
	const w, h = 512, 512
	b := []byte("BM")
	b = append(b, make([]byte, 52)...)
	for i := range 256 {
		b = append(b, byte(i), byte(i), byte(i), 0)
	}
	for y := range h {
		for x := range w {
			v := 128 + 60*math.Sin(float64(x)/23) + 50*math.Cos(float64(y)/17+float64(x)/61) + float64(r.IntN(9)-4)
			b = append(b, byte(max(0, min(255, v))))
		}
	}
	return b
})

var verseWords = []string{"und", "der", "die", "das", "ich", "nicht", "mit", "Geist", "Welt", "Nacht", "Herz", "wohl", "schön",
	"Hände", "führen", "Glück", "Träume", "süß", "Erde", "Himmel", "Licht", "Zeit", "Blut", "mein", "dein", "so", "wie", "über", "Tür", "Mäßigung"}

// verseData is German verse (umlauts and all), about 220 KB: speakers'
// names, then lines of words.
var verseData = onceData(func(r *rand.Rand) []byte {
	var b bytes.Buffer
	speakers := []string{"FAUST", "MEPHISTOPHELES", "GRETCHEN", "WAGNER", "MARTHE"}
	for b.Len() < 220000 {
		fmt.Fprintf(&b, "\n%s:\n", speakers[r.IntN(len(speakers))])
		for range 2 + r.IntN(6) {
			n := 4 + r.IntN(5)
			for k := range n {
				wd := verseWords[r.IntN(len(verseWords))]
				if k == 0 {
					wd = strings.ToUpper(wd[:1]) + wd[1:]
				}
				b.WriteString(wd)
				if k < n-1 {
					b.WriteByte(' ')
				}
			}
			b.WriteString([]string{",\n", ".\n", "!\n", ";\n"}[r.IntN(4)])
		}
	}
	return b.Bytes()
})

// htmlData is a report as an HTML table, about 260 KB.
var htmlData = onceData(func(r *rand.Rand) []byte {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html>\n   <head>\n      <meta charset=\"utf-8\" />\n      <style lang=\"css\">\nbody {\n   background-color: #F4F4F4;\n}\n      </style>\n   </head>\n   <body>\n      <table>\n")
	for i := 0; b.Len() < 260000; i++ {
		id := fmt.Sprintf("%d.%d.%d", 1+i/100, 1+i/10%10, 1+i%10)
		cls := []string{"case_ok", "case_non_strict", "case_info", "case_failed"}[r.IntN(4)]
		fmt.Fprintf(&b, "         <tr class=\"agent_case_result_row\">\n            <td class=\"case\"><a href=\"#case_desc_%s\">Case %s</a></td>\n            <td class=\"%s\"><a href=\"%s_case_%s.html\">Pass</a><br/><span class=\"case_duration\">%d ms</span></td>\n         </tr>\n",
			strings.ReplaceAll(id, ".", "_"), id, cls, word(r, 2), strings.ReplaceAll(id, ".", "_"), r.IntN(3000))
	}
	b.WriteString("      </table>\n   </body>\n</html>\n")
	return b.Bytes()
})

// pdfData is about 1 MB laid out as a PDF: short text objects around
// streams of random (already compressed) bytes.
var pdfData = onceData(func(r *rand.Rand) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	for obj := 1; b.Len() < 1040000; obj++ {
		n := 2000 + r.IntN(30000)
		fmt.Fprintf(&b, "%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", obj, n)
		for range n {
			b.WriteByte(byte(r.Uint32()))
		}
		b.WriteString("\nendstream\nendobj\n")
	}
	b.WriteString("trailer\n<< /Root 1 0 R >>\n%%EOF\n")
	return b.Bytes()
})

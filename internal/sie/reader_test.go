package sie_test

// An independent reading of SIE 4, written from the specification (SIE
// filformat, version 4B) rather than from the writer: a file is lines of
// code page 437 ending in LF (a CR before it allowed); a line is a label
// (#WORD) and fields separated by spaces or tabs; a field is a word, a
// string in quotes in which \" is a quote, or a brace; "{" and "}" on
// lines of their own hold a #VER's #TRANS lines; #TRANS is kontonr
// {objektlista} belopp [transdat [transtext ...]]; amounts have a decimal
// point and at most two decimals; dates are YYYYMMDD.

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cp437High is code page 437 from 0x80 to 0xFF, typed from the code
// page's table; 0x00-0x7F is ASCII.
const cp437High = "ÇüéâäàåçêëèïîìÄÅ" + "ÉæÆôöòûùÿÖÜ¢£¥₧ƒ" + "áíóúñÑªº¿⌐¬½¼¡«»" + "░▒▓│┤╡╢╖╕╣║╗╝╜╛┐" +
	"└┴┬├─┼╞╟╚╔╩╦╠═╬╧" + "╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" + "αßΓπΣσµτΦΘΩδ∞φε∩" + "≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"

var cp437 = func() [256]rune {
	var t [256]rune
	for i := range 128 {
		t[i] = rune(i)
	}
	i := 128
	for _, r := range cp437High {
		t[i] = r
		i++
	}
	if i != 256 {
		panic(fmt.Sprintf("cp437High has %d runes, want 128", i-128))
	}
	return t
}()

func decodeCP437(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		s.WriteRune(cp437[c])
	}
	return s.String()
}

// sieFile is what the reader keeps of a file.
type sieFile struct {
	labels  []string // header labels in the order they came
	flagga  string
	program []string
	format  string
	gen     string
	sietyp  string
	orgnr   string
	fnamn   string
	konto   map[string]string
	vers    []sieVer
}

type sieVer struct {
	series, number, date, text string
	trans                      []sieTrans
}

type sieTrans struct {
	account string
	objects []string
	ore     int64 // the amount in öre
}

// token is a field: a word, a string (quoted) or a brace.
type token struct {
	text   string
	quoted bool
}

func (t token) brace(b string) bool { return !t.quoted && t.text == b }

// tokenize splits a line into its label's and fields' tokens.
func tokenize(line string) ([]token, error) {
	var toks []token
	r := []rune(line)
	for i := 0; i < len(r); {
		switch c := r[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '{' || c == '}':
			toks = append(toks, token{text: string(c)})
			i++
		case c == '"':
			var s strings.Builder
			i++
			for {
				if i >= len(r) {
					return nil, errors.New("unterminated string")
				}
				if r[i] == '\\' && i+1 < len(r) && r[i+1] == '"' {
					s.WriteRune('"')
					i += 2
					continue
				}
				if r[i] == '"' {
					i++
					break
				}
				s.WriteRune(r[i])
				i++
			}
			if i < len(r) && r[i] != ' ' && r[i] != '\t' && r[i] != '}' {
				return nil, fmt.Errorf("no space after a string at %d", i)
			}
			toks = append(toks, token{text: s.String(), quoted: true})
		default:
			if c < 0x20 || c == 0x7f {
				return nil, fmt.Errorf("control character %#x", c)
			}
			j := i
			for j < len(r) && r[j] != ' ' && r[j] != '\t' && r[j] != '{' && r[j] != '}' && r[j] != '"' {
				j++
			}
			toks = append(toks, token{text: string(r[i:j])})
			i = j
		}
	}
	return toks, nil
}

// parseSIE reads a SIE 4 import file, refusing what the specification
// does not allow and anything this project never writes (unknown labels).
func parseSIE(b []byte) (*sieFile, error) {
	text := decodeCP437(b)
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("the last line has no line end")
	}
	f := &sieFile{konto: map[string]string{}}
	var ver *sieVer
	inBraces := false
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		fail := func(format string, args ...any) (*sieFile, error) {
			return nil, fmt.Errorf("line %d %q: %s", n+1, line, fmt.Sprintf(format, args...))
		}
		toks, err := tokenize(line)
		if err != nil {
			return fail("%v", err)
		}
		if len(toks) == 0 {
			continue
		}
		if n == 0 && toks[0].text != "#FLAGGA" {
			return fail("the first line must be #FLAGGA")
		}
		switch {
		case toks[0].brace("{"):
			if ver == nil || inBraces || len(toks) != 1 {
				return fail("{ must follow a #VER on its own line")
			}
			inBraces = true
			continue
		case toks[0].brace("}"):
			if !inBraces || len(toks) != 1 {
				return fail("} without {")
			}
			inBraces, ver = false, nil
			continue
		}
		label, fields := toks[0].text, toks[1:]
		if toks[0].quoted || !strings.HasPrefix(label, "#") {
			return fail("no label")
		}
		if inBraces != (label == "#TRANS") {
			return fail("%s inside braces: %v", label, inBraces)
		}
		if ver != nil && !inBraces {
			return fail("#VER without {")
		}
		if label != "#KONTO" && label != "#VER" && label != "#TRANS" {
			f.labels = append(f.labels, label)
		}
		word := func(i int) string {
			if i < len(fields) {
				return fields[i].text
			}
			return ""
		}
		switch label {
		case "#FLAGGA":
			f.flagga = word(0)
		case "#PROGRAM":
			for _, t := range fields {
				f.program = append(f.program, t.text)
			}
		case "#FORMAT":
			f.format = word(0)
		case "#GEN":
			if !isDate(word(0)) {
				return fail("#GEN date")
			}
			f.gen = word(0)
		case "#SIETYP":
			f.sietyp = word(0)
		case "#ORGNR":
			f.orgnr = word(0)
		case "#FNAMN":
			if len(fields) != 1 {
				return fail("#FNAMN takes one field")
			}
			f.fnamn = word(0)
		case "#KONTO":
			if len(fields) != 2 {
				return fail("#KONTO takes kontonr kontonamn")
			}
			f.konto[word(0)] = word(1)
		case "#VER":
			if len(fields) < 3 || !isDate(word(2)) {
				return fail("#VER serie vernr verdatum [vertext ...]")
			}
			f.vers = append(f.vers, sieVer{series: word(0), number: word(1), date: word(2), text: word(3)})
			ver = &f.vers[len(f.vers)-1]
		case "#TRANS":
			t, err := parseTrans(fields)
			if err != nil {
				return fail("%v", err)
			}
			ver.trans = append(ver.trans, t)
		default:
			return fail("unknown label")
		}
	}
	if inBraces {
		return nil, errors.New("a #VER's braces are not closed")
	}
	for _, l := range []string{"#FLAGGA", "#PROGRAM", "#FORMAT", "#GEN", "#SIETYP", "#FNAMN"} {
		if !slices.Contains(f.labels, l) {
			return nil, fmt.Errorf("no %s, which the format requires", l)
		}
	}
	return f, nil
}

// parseTrans reads #TRANS kontonr {objektlista} belopp ...
func parseTrans(fields []token) (sieTrans, error) {
	if len(fields) < 4 || fields[0].quoted || !fields[1].brace("{") {
		return sieTrans{}, errors.New("#TRANS kontonr {objektlista} belopp")
	}
	t := sieTrans{account: fields[0].text, objects: []string{}}
	i := 2
	for ; i < len(fields) && !fields[i].brace("}"); i++ {
		t.objects = append(t.objects, fields[i].text)
	}
	if i+1 >= len(fields) {
		return sieTrans{}, errors.New("#TRANS without } or belopp")
	}
	ore, err := parseAmount(fields[i+1].text)
	if err != nil {
		return sieTrans{}, err
	}
	t.ore = ore
	return t, nil
}

// parseAmount reads an amount: an optional minus, digits, and at most two
// decimals after a point.
func parseAmount(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	whole, frac, hasPoint := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if whole == "" || len(frac) > 2 || (hasPoint && frac == "") || strings.ContainsAny(whole+frac, "+-") {
		return 0, fmt.Errorf("amount %q", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	ore, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %v", s, err)
	}
	if neg {
		ore = -ore
	}
	return ore, nil
}

func isDate(s string) bool {
	_, err := time.Parse("20060102", s)
	return len(s) == 8 && err == nil
}

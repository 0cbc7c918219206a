package render

import (
	"bytes"
	"io"
)

// indentChunk is how much indented output writeIndented gathers before it
// writes: the writer is usually an unbuffered terminal or pipe.
const indentChunk = 32 << 10

// writeIndented writes src, the compact JSON that json.Marshal produced,
// to w indented by two spaces per level, exactly as json.Indent(dst, src,
// "", "  ") would, followed by a newline. It is json.Indent without the
// general scanner (which validates every byte and costs more than the
// marshalling of a report) and without holding the whole indented
// document in memory: src is known to be valid and to hold no white space
// outside its strings.
func writeIndented(w io.Writer, src []byte) error {
	buf := make([]byte, 0, indentChunk+256)
	depth := 0
	newline := func() {
		buf = append(buf, '\n')
		for range depth {
			buf = append(buf, ' ', ' ')
		}
	}
	for i := 0; i < len(src); {
		if len(buf) >= indentChunk {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		switch c := src[i]; c {
		case '"':
			end := stringEnd(src, i)
			buf = append(buf, src[i:end]...)
			i = end
			continue
		case '{', '[':
			buf = append(buf, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				buf = append(buf, src[i+1])
				i += 2
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			buf = append(buf, c)
		case ',':
			buf = append(buf, ',')
			newline()
		case ':':
			buf = append(buf, ':', ' ')
		default:
			// A number or literal: copy it up to the next structural byte.
			end := i + 1
			for end < len(src) && !structural(src[end]) {
				end++
			}
			buf = append(buf, src[i:end]...)
			i = end
			continue
		}
		i++
	}
	buf = append(buf, '\n')
	_, err := w.Write(buf)
	return err
}

// stringEnd returns the index just past the string that starts with the
// quote at src[start]: the first quote after it not escaped by an odd
// run of backslashes.
func stringEnd(src []byte, start int) int {
	i := start + 1
	for {
		q := bytes.IndexByte(src[i:], '"')
		if q < 0 {
			return len(src)
		}
		i += q
		backslashes := 0
		for j := i - 1; j > start && src[j] == '\\'; j-- {
			backslashes++
		}
		i++
		if backslashes%2 == 0 {
			return i
		}
	}
}

func structural(c byte) bool {
	switch c {
	case '{', '}', '[', ']', ',', ':', '"':
		return true
	}
	return false
}

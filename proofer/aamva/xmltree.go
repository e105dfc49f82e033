package aamva

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// elem is a parsed XML element; lookups are by local name, namespace-agnostic
// (as the original's //Name XPath).
type elem struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*elem
	text     strings.Builder
}

// Text is the element's own character data.
func (e *elem) Text() string { return e.text.String() }

const maxDepth = 64

var errXML = errors.New("aamva: response is not well-formed XML")

// parseXML reads a document into a tree. Its error never quotes the input.
func parseXML(b []byte) (*elem, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var root *elem
	var stack []*elem
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errXML
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return nil, errXML
			}
			e := &elem{Name: t.Name, Attr: append([]xml.Attr(nil), t.Attr...)}
			if len(stack) == 0 {
				if root != nil {
					return nil, errXML
				}
				root = e
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil || len(stack) != 0 {
		return nil, errXML
	}
	return root, nil
}

// find returns the first element named local in document order (the
// element itself included), or nil.
func (e *elem) find(local string) *elem {
	if e == nil {
		return nil
	}
	if e.Name.Local == local {
		return e
	}
	for _, c := range e.Children {
		if f := c.find(local); f != nil {
			return f
		}
	}
	return nil
}

// findAll returns every element named local, in document order.
func (e *elem) findAll(local string) []*elem {
	var out []*elem
	var walk func(*elem)
	walk = func(n *elem) {
		if n.Name.Local == local {
			out = append(out, n)
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	if e != nil {
		walk(e)
	}
	return out
}

// child returns the first direct child named local.
func (e *elem) child(local string) *elem {
	if e == nil {
		return nil
	}
	for _, c := range e.Children {
		if c.Name.Local == local {
			return c
		}
	}
	return nil
}

// attr returns the value of the attribute named local (any namespace).
func (e *elem) attr(local string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.Attr {
		if a.Name.Local == local && a.Name.Space != "xmlns" {
			return a.Value
		}
	}
	return ""
}

// textOf is the trimmed text of the first element named local, "" if absent.
func (e *elem) textOf(local string) string {
	if f := e.find(local); f != nil {
		return strings.TrimSpace(f.Text())
	}
	return ""
}

// escText escapes character data as exclusive canonicalization writes it.
func escText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			if !isXMLChar(r) {
				b.WriteRune('\uFFFD')
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escAttr escapes an attribute value as exclusive canonicalization writes it.
func escAttr(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '"':
			b.WriteString("&quot;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			if !isXMLChar(r) {
				b.WriteRune('\uFFFD')
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

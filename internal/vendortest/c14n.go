package vendortest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"sort"
	"strings"
)

// This file is an exclusive XML canonicalization (xml-exc-c14n#, without
// comments) written independently of package aamva, so that the AAMVA test
// server verifies the adapter's signatures by re-canonicalizing what it
// received rather than trusting the adapter's own serialization.

type xnode struct {
	prefix, local string
	attrs         []xml.Attr // raw: Name.Space is the prefix; xmlns declarations included
	kids          []any      // *xnode or string
	parent        *xnode
}

// parseRaw builds a tree keeping prefixes as written.
func parseRaw(b []byte) (*xnode, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var root, cur *xnode
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &xnode{prefix: t.Name.Space, local: t.Name.Local, attrs: append([]xml.Attr(nil), t.Attr...), parent: cur}
			if cur == nil {
				if root != nil {
					return nil, errors.New("two roots")
				}
				root = n
			} else {
				cur.kids = append(cur.kids, n)
			}
			cur = n
		case xml.EndElement:
			if cur == nil {
				return nil, errors.New("unbalanced")
			}
			cur = cur.parent
		case xml.CharData:
			if cur != nil {
				cur.kids = append(cur.kids, string(t))
			}
		}
	}
	if root == nil || cur != nil {
		return nil, errors.New("incomplete document")
	}
	return root, nil
}

// decl reports whether a raw attribute is a namespace declaration, and for
// which prefix ("" for the default namespace).
func decl(a xml.Attr) (string, bool) {
	if a.Name.Space == "xmlns" {
		return a.Name.Local, true
	}
	if a.Name.Space == "" && a.Name.Local == "xmlns" {
		return "", true
	}
	return "", false
}

// scope is every namespace binding in scope at n.
func (n *xnode) scope() map[string]string {
	m := map[string]string{}
	var chain []*xnode
	for p := n; p != nil; p = p.parent {
		chain = append(chain, p)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, a := range chain[i].attrs {
			if p, ok := decl(a); ok {
				m[p] = a.Value
			}
		}
	}
	return m
}

func (n *xnode) uri() string { return n.scope()[n.prefix] }

// attrValue returns the value of the attribute local in namespace uri.
func (n *xnode) attrValue(uri, local string) string {
	sc := n.scope()
	for _, a := range n.attrs {
		if _, ok := decl(a); ok {
			continue
		}
		if a.Name.Local == local && sc[a.Name.Space] == uri && (uri == "" || a.Name.Space != "") {
			return a.Value
		}
	}
	return ""
}

func (n *xnode) text() string {
	var b strings.Builder
	for _, k := range n.kids {
		if s, ok := k.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}

// walk visits n and its descendants in document order.
func (n *xnode) walk(f func(*xnode) bool) bool {
	if !f(n) {
		return false
	}
	for _, k := range n.kids {
		if c, ok := k.(*xnode); ok && !c.walk(f) {
			return false
		}
	}
	return true
}

// first returns the first element with namespace uri and name local.
func (n *xnode) first(uri, local string) *xnode {
	var out *xnode
	n.walk(func(x *xnode) bool {
		if x.local == local && x.uri() == uri {
			out = x
			return false
		}
		return true
	})
	return out
}

// all returns every element with namespace uri and name local.
func (n *xnode) all(uri, local string) []*xnode {
	var out []*xnode
	n.walk(func(x *xnode) bool {
		if x.local == local && x.uri() == uri {
			out = append(out, x)
		}
		return true
	})
	return out
}

// byID finds the element whose wsu:Id is id.
func (n *xnode) byID(wsuNS, id string) *xnode {
	var out *xnode
	n.walk(func(x *xnode) bool {
		if x.attrValue(wsuNS, "Id") == id {
			out = x
			return false
		}
		return true
	})
	return out
}

// excC14N canonicalizes the subtree at n with the InclusiveNamespaces
// prefix list inclusive.
func excC14N(n *xnode, inclusive []string) string {
	var b strings.Builder
	var rec func(x *xnode, rendered map[string]string)
	rec = func(x *xnode, rendered map[string]string) {
		sc := x.scope()
		need := map[string]bool{x.prefix: true}
		type attr struct{ uri, qname, local, val string }
		var attrs []attr
		for _, a := range x.attrs {
			if _, ok := decl(a); ok {
				continue
			}
			if a.Name.Space != "" && a.Name.Space != "xml" {
				need[a.Name.Space] = true
			}
			q := a.Name.Local
			uri := ""
			if a.Name.Space != "" {
				q = a.Name.Space + ":" + a.Name.Local
				uri = sc[a.Name.Space]
				if a.Name.Space == "xml" {
					uri = "http://www.w3.org/XML/1998/namespace"
				}
			}
			attrs = append(attrs, attr{uri, q, a.Name.Local, a.Value})
		}
		for _, p := range inclusive {
			if p == "#default" {
				p = ""
			}
			if _, ok := sc[p]; ok {
				need[p] = true
			}
		}
		var prefixes []string
		next := map[string]string{}
		for k, v := range rendered {
			next[k] = v
		}
		for p := range need {
			uri, inScope := sc[p]
			if !inScope {
				continue // default namespace never declared: nothing to render
			}
			if have, ok := rendered[p]; ok && have == uri {
				continue
			}
			if p == "" && uri == "" {
				if _, ok := rendered[""]; !ok {
					continue
				}
			}
			prefixes = append(prefixes, p)
			next[p] = uri
		}
		sort.Strings(prefixes)
		sort.Slice(attrs, func(i, j int) bool {
			if attrs[i].uri != attrs[j].uri {
				return attrs[i].uri < attrs[j].uri
			}
			return attrs[i].local < attrs[j].local
		})
		q := x.local
		if x.prefix != "" {
			q = x.prefix + ":" + x.local
		}
		b.WriteString("<" + q)
		for _, p := range prefixes {
			if p == "" {
				b.WriteString(` xmlns="` + c14nAttr(sc[p]) + `"`)
			} else {
				b.WriteString(` xmlns:` + p + `="` + c14nAttr(sc[p]) + `"`)
			}
		}
		for _, a := range attrs {
			b.WriteString(" " + a.qname + `="` + c14nAttr(a.val) + `"`)
		}
		b.WriteString(">")
		for _, k := range x.kids {
			switch v := k.(type) {
			case string:
				b.WriteString(c14nText(v))
			case *xnode:
				rec(v, next)
			}
		}
		b.WriteString("</" + q + ">")
	}
	rec(n, map[string]string{})
	return b.String()
}

func c14nText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;").Replace(s)
}

func c14nAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", `"`, "&quot;", "\t", "&#x9;", "\n", "&#xA;", "\r", "&#xD;").Replace(s)
}

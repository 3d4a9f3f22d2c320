package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode decodes n into v (a pointer to a struct) strictly: every mapping
// key must match a yaml tag, at any depth. where names n in messages, such
// as "mounts[0].options". Drivers reach it through drivers.Options.
func Decode(n *yaml.Node, v any, where string) error {
	if n == nil || n.Kind == 0 {
		return nil
	}
	if err := checkKeys(n, reflect.TypeOf(v), where); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		return errorf("%s", nameKeys(n, where, redact(err.Error())))
	}
	return nil
}

var lineMsg = regexp.MustCompile(`line (\d+): (.*)`)

// nameKeys puts the key's path into yaml's type errors, which give only a
// line: "line 5: cannot unmarshal !!str into int" becomes "line 5:
// cache.entries: cannot unmarshal !!str into int".
func nameKeys(n *yaml.Node, where, msg string) string {
	var out []string
	for _, part := range strings.Split(msg, "\n") {
		part = strings.TrimSpace(part)
		if m := lineMsg.FindStringSubmatch(part); m != nil {
			line, _ := strconv.Atoi(m[1])
			if key := keyAtLine(n, line, where); key != "" {
				part = fmt.Sprintf("line %d: %s: %s", line, key, m[2])
			}
		}
		out = append(out, part)
	}
	return strings.Join(out, "; ")
}

// keyAtLine finds the path of the mapping key whose value starts on line.
func keyAtLine(n *yaml.Node, line int, where string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if k := keyAtLine(c, line, where); k != "" {
				return k
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			path := join(where, key.Value)
			if val.Kind == yaml.ScalarNode && val.Line == line {
				return path
			}
			if k := keyAtLine(val, line, path); k != "" {
				return k
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", where, i)
			if c.Kind == yaml.ScalarNode && c.Line == line {
				return p
			}
			if k := keyAtLine(c, line, p); k != "" {
				return k
			}
		}
	}
	return ""
}

var (
	yamlNode = reflect.TypeOf(yaml.Node{})
	quoted   = regexp.MustCompile("`[^`]*`|'[^']*'")
)

// redact removes the values yaml quotes in its messages ("cannot
// unmarshal !!str `hunter2` into int"): they may be secrets.
func redact(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	return quoted.ReplaceAllString(msg, "a value")
}

func checkKeys(n *yaml.Node, t reflect.Type, where string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == yamlNode || n.Kind != yaml.MappingNode {
			return nil // yaml reports wrong kinds itself, with the line
		}
		fields := map[string]reflect.Type{}
		var known []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
			known = append(known, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return errorf("line %d: unknown key %q in %s (known keys: %s)", k.Line, k.Value, orTop(where), strings.Join(known, ", "))
			}
			if err := checkKeys(n.Content[i+1], ft, join(where, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

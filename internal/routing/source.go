package routing

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// source is one policy file: its bytes, its AST (for line numbers) and the
// errors found in it.
type source struct {
	path string // as shown in errors
	data []byte
	file *ast.File
}

// decode parses data strictly into v. Errors carry the file and line.
func (s *source) decode(v any) *LoadError {
	f, err := parser.ParseBytes(s.data, 0)
	if err != nil {
		return s.yamlError(err)
	}
	s.file = f
	if err := yaml.UnmarshalWithOptions(s.data, v, yaml.DisallowUnknownField()); err != nil {
		return s.yamlError(err)
	}
	return nil
}

func (s *source) yamlError(err error) *LoadError {
	var ye yaml.Error
	if errors.As(err, &ye) {
		line := 0
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			line = tk.Position.Line
		}
		return &LoadError{File: s.path, Line: line, Reason: "yaml: " + strings.TrimSpace(ye.GetMessage())}
	}
	return &LoadError{File: s.path, Reason: "yaml: " + err.Error()}
}

// node returns the node at a YAML path such as "$.rules[2].when", or nil.
func (s *source) node(path string) ast.Node {
	if s.file == nil {
		return nil
	}
	p, err := yaml.PathString(path)
	if err != nil {
		return nil
	}
	n, err := p.FilterFile(s.file)
	if err != nil || n == nil {
		return nil
	}
	return n
}

// line is the line of the node at path; if there is none (a missing key), the
// line of the nearest parent that exists, and at worst the document's first line, so a
// missing top-level key still points somewhere.
func (s *source) line(path string) int {
	for path != "" {
		if n := s.node(path); n != nil {
			if tk := n.GetToken(); tk != nil && tk.Position != nil {
				return tk.Position.Line
			}
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// errorf records a problem at a YAML path.
func (s *source) errorf(path, format string, args ...any) *LoadError {
	return &LoadError{File: s.path, Line: s.line(path), Reason: fmt.Sprintf(format, args...)}
}

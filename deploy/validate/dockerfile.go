package main

import (
	"fmt"
	"os"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// checkDockerfile parses a Dockerfile with BuildKit's own parser and instruction decoder, the same code
// `docker build` runs first, and returns one line per problem (syntax, unknown instruction, bad flag) and per
// warning of BuildKit's build checks that run at parse time (instruction casing, stage names, JSON arguments ...).
func checkDockerfile(path string) ([]string, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	result, err := parser.Parse(file)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}, nil
	}
	var problems []string
	for _, warning := range result.Warnings {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", path, warning.Location.Start.Line, warning.Short))
	}
	lint := linter.New(&linter.Config{
		Warn: func(rule, _, _, message string, location []parser.Range) {
			line := 0
			if len(location) > 0 {
				line = location[0].Start.Line
			}
			problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", path, line, rule, message))
		},
	})
	stages, _, err := instructions.Parse(result.AST, lint)
	if err != nil {
		problems = append(problems, fmt.Sprintf("%s: %v", path, err))
	} else if len(stages) == 0 {
		problems = append(problems, fmt.Sprintf("%s: no build stage", path))
	}
	return problems, nil
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// Grafana expands these before Prometheus sees a query; any valid value works for a syntax check.
var grafanaMacros = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__interval", "1m",
	"$__range", "1h",
	"$__auto", "1m",
)

var promqlParser = parser.NewParser(parser.Options{})

var grafanaVariable = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)

// checkPromQL reads a JSON array of {"where": ..., "expr": ...} and returns one line per expression that
// Prometheus's own parser rejects.
func checkPromQL(input io.Reader) ([]string, int, error) {
	var queries []struct {
		Where string `json:"where"`
		Expr  string `json:"expr"`
	}
	if err := json.NewDecoder(input).Decode(&queries); err != nil {
		return nil, 0, fmt.Errorf("expected a JSON array of {where, expr}: %w", err)
	}
	var problems []string
	for _, query := range queries {
		expr := grafanaVariable.ReplaceAllString(grafanaMacros.Replace(query.Expr), ".*")
		if strings.HasPrefix(strings.TrimSpace(expr), "label_values(") {
			// A Grafana variable function, not PromQL: check its metric selector alone.
			inner := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(expr), "label_values("), ")")
			expr = strings.TrimSpace(strings.Split(inner, ",")[0])
		}
		if _, err := promqlParser.ParseExpr(expr); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", query.Where, err))
		}
	}
	return problems, len(queries), nil
}

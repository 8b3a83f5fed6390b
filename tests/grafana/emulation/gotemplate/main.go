// Command gotemplate renders Grafana alerting templates with Go's own text/template, the engine
// Grafana uses, so a template that Grafana would reject (or render as "[no value]") fails here too.
// Test helper of jobpulse (tests/grafana/emulation/templates.py); standard library only.
//
// Input (stdin, JSON):
//
//	{"kind": "rule"|"notification", "external_url": "http://grafana:3000/",
//	 "items": [{"name": "summary", "text": "{{ $labels.job_id }}", "data": {...}}]}
//
// Output (stdout, JSON), one entry per item, in order:
//
//	[{"name": "summary", "ok": true, "output": "..."}, {"name": "x", "ok": false, "error": "..."}]
//
// kind "rule": an alert rule's annotation or label template at evaluation time, as in grafana/grafana
// pkg/services/ngalert/state/template/template.go, Expand() (Grafana 11.x-12.x): the template is
// named "__alert_"+name, the prelude
// {{- $labels := .Labels -}}{{- $values := .Values -}}{{- $value := .Value -}} is prepended, it is
// parsed with option missingkey=invalid and Prometheus' expander functions
// (prometheus/template/template.go NewTemplateExpander, module v0.301 = Prometheus v3.1) plus
// Grafana's (state/template/funcs.go defaultFuncs), and "<no value>" in the result becomes
// "[no value]". Errors are worded as Grafana's ExpandError wrapping Prometheus' Expand() error.
// data: {"Labels": {k: v}, "Values": {"B": {"Labels": {k: v}, "Value": 75}}, "Value": "[ var='B' ... ]"}
// ("Value": null or "NaN" is Grafana's NaN for a missing value). Unknown keys are rejected.
//
// kind "notification": a contact point setting (e.g. PagerDuty summary), as grafana/alerting
// templates executes it (Alertmanager template.ExecuteTextString: an unnamed template, option
// missingkey=zero, Alertmanager's template.DefaultFuncs) on templates.ExtendedData.
// data: {"Receiver", "Status", "Alerts": [...], "GroupLabels", "CommonLabels", "CommonAnnotations",
// "ExternalURL", "GroupKey"}; keys match case-insensitively (Go field names or the webhook's JSON
// names). Unknown keys are rejected. Grafana's and Alertmanager's predefined named templates
// (default.title, __subject, ...) are NOT loaded: {{ template "default.title" . }} fails here.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	html_template "html/template"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// ---------------------------------------------------------------------------------------------
// Rule-evaluation data: grafana/grafana pkg/services/ngalert/state/template/template.go

// Labels is Grafana's template.Labels: String() prints k=v, comma separated, sorted by key.
type Labels map[string]string

func (l Labels) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(l[k])
		if i < len(l)-1 {
			b.WriteString(", ")
		}
	}
	return b.String()
}

// Value is Grafana's template.Value, the labels and number of a Reduce/Math/Threshold expression.
type Value struct {
	Labels Labels
	Value  float64
}

// String as shipped in 11.x-12.x: strconv.FormatFloat(v, 'f', -1, 64).
func (v Value) String() string {
	return strconv.FormatFloat(v.Value, 'f', -1, 64)
}

func (v *Value) UnmarshalJSON(b []byte) error {
	var raw struct {
		Labels Labels
		Value  json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	v.Labels = raw.Labels
	s := strings.TrimSpace(string(raw.Value))
	switch s {
	case "", "null", `"NaN"`:
		v.Value = math.NaN() // NewValues: a RefID without a value (no data, error) is NaN
		return nil
	}
	f, err := strconv.ParseFloat(strings.Trim(s, `"`), 64)
	if err != nil {
		return fmt.Errorf("Value: %w", err)
	}
	v.Value = f
	return nil
}

// RuleData is Grafana's template.Data.
type RuleData struct {
	Labels Labels
	Values map[string]Value
	Value  string
}

// ---------------------------------------------------------------------------------------------
// Notification data: grafana/alerting templates/template_data.go (ExtendedData, ExtendedAlert) over
// Alertmanager template.KV.

type Pair struct{ Name, Value string }
type Pairs []Pair

func (ps Pairs) Names() []string {
	ns := make([]string, 0, len(ps))
	for _, p := range ps {
		ns = append(ns, p.Name)
	}
	return ns
}

func (ps Pairs) Values() []string {
	vs := make([]string, 0, len(ps))
	for _, p := range ps {
		vs = append(vs, p.Value)
	}
	return vs
}

func (ps Pairs) String() string {
	var b strings.Builder
	for i, p := range ps {
		b.WriteString(p.Name)
		b.WriteRune('=')
		b.WriteString(p.Value)
		if i < len(ps)-1 {
			b.WriteString(", ")
		}
	}
	return b.String()
}

// KV is Alertmanager's template.KV.
type KV map[string]string

// SortedPairs: alertname first, then the other keys sorted.
func (kv KV) SortedPairs() Pairs {
	pairs := make([]Pair, 0, len(kv))
	keys := make([]string, 0, len(kv))
	sortStart := 0
	for k := range kv {
		if k == "alertname" {
			keys = append([]string{k}, keys...)
			sortStart = 1
		} else {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys[sortStart:])
	for _, k := range keys {
		pairs = append(pairs, Pair{k, kv[k]})
	}
	return pairs
}

func (kv KV) Remove(keys []string) KV {
	set := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		set[k] = struct{}{}
	}
	res := KV{}
	for k, v := range kv {
		if _, ok := set[k]; !ok {
			res[k] = v
		}
	}
	return res
}

func (kv KV) Names() []string  { return kv.SortedPairs().Names() }
func (kv KV) Values() []string { return kv.SortedPairs().Values() }
func (kv KV) String() string   { return kv.SortedPairs().String() }

type ExtendedAlert struct {
	Status        string             `json:"status"`
	Labels        KV                 `json:"labels"`
	Annotations   KV                 `json:"annotations"`
	StartsAt      time.Time          `json:"startsAt"`
	EndsAt        time.Time          `json:"endsAt"`
	GeneratorURL  string             `json:"generatorURL"`
	Fingerprint   string             `json:"fingerprint"`
	SilenceURL    string             `json:"silenceURL"`
	DashboardURL  string             `json:"dashboardURL"`
	PanelURL      string             `json:"panelURL"`
	Values        map[string]float64 `json:"values"`
	ValueString   string             `json:"valueString"`
	ImageURL      string             `json:"imageURL,omitempty"`
	EmbeddedImage string             `json:"embeddedImage,omitempty"`
	OrgID         *int64             `json:"orgId,omitempty"`
}

type ExtendedAlerts []ExtendedAlert

func (as ExtendedAlerts) Firing() []ExtendedAlert {
	res := []ExtendedAlert{}
	for _, a := range as {
		if a.Status == "firing" {
			res = append(res, a)
		}
	}
	return res
}

func (as ExtendedAlerts) Resolved() []ExtendedAlert {
	res := []ExtendedAlert{}
	for _, a := range as {
		if a.Status == "resolved" {
			res = append(res, a)
		}
	}
	return res
}

type ExtendedData struct {
	Receiver          string         `json:"receiver"`
	Status            string         `json:"status"`
	Alerts            ExtendedAlerts `json:"alerts"`
	GroupLabels       KV             `json:"groupLabels"`
	CommonLabels      KV             `json:"commonLabels"`
	CommonAnnotations KV             `json:"commonAnnotations"`
	ExternalURL       string         `json:"externalURL"`
	GroupKey          string         `json:"groupKey"`
	TruncatedAlerts   *int           `json:"truncatedAlerts,omitempty"`
}

// ---------------------------------------------------------------------------------------------
// The names of Prometheus' template functions (prometheus/template/template.go NewTemplateExpander,
// v3.1), with bodies of our own that behave as documented.

type sample struct {
	Labels map[string]string
	Value  interface{}
}
type queryResult []*sample

func convertToFloat(i interface{}) (float64, error) {
	switch v := i.(type) {
	case float64:
		return v, nil
	case string:
		return strconv.ParseFloat(v, 64)
	case int:
		return float64(v), nil
	case uint:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case uint64:
		return float64(v), nil
	case time.Duration:
		return v.Seconds(), nil
	default:
		return 0, fmt.Errorf("can't convert %T to float", v)
	}
}

var errNaNOrInf = errors.New("value is NaN or Inf")

func floatToTime(v float64) (*time.Time, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, errNaNOrInf
	}
	if math.Abs(v) > math.MaxInt64/1e9 {
		return nil, fmt.Errorf("timestamp %v out of range", v)
	}
	// Millisecond precision, as Prometheus keeps sample times.
	t := time.UnixMilli(int64(math.Round(v * 1000))).UTC()
	return &t, nil
}

// Written from Prometheus' documented behaviour of its template functions (docs "Template reference",
// prometheus/template NewTemplateExpander): 4 significant digits, SI prefixes for humanize, binary
// prefixes above 1 for humanize1024, days/hours/minutes/seconds for humanizeDuration.
var (
	siLarge  = []string{"k", "M", "G", "T", "P", "E", "Z", "Y"}
	siSmall  = []string{"m", "u", "n", "p", "f", "a", "z", "y"}
	binLarge = []string{"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"}
)

// scaled brings |v| below base (shrinking) or up to at least 1 (growing), one prefix per step.
func scaled(v, base float64, prefixes []string, shrink bool) (float64, string) {
	prefix := ""
	for _, next := range prefixes {
		done := math.Abs(v) >= 1
		if shrink {
			done = math.Abs(v) < base
		}
		if done {
			break
		}
		prefix = next
		if shrink {
			v /= base
		} else {
			v *= base
		}
	}
	return v, prefix
}

func special(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

func humanize(i interface{}) (string, error) {
	v, err := convertToFloat(i)
	if err != nil {
		return "", err
	}
	if v == 0 || special(v) {
		return fmt.Sprintf("%.4g", v), nil
	}
	prefix := ""
	if math.Abs(v) >= 1 {
		v, prefix = scaled(v, 1000, siLarge, true)
	} else {
		v, prefix = scaled(v, 1000, siSmall, false)
	}
	return fmt.Sprintf("%.4g%s", v, prefix), nil
}

func humanize1024(i interface{}) (string, error) {
	v, err := convertToFloat(i)
	if err != nil {
		return "", err
	}
	if math.Abs(v) <= 1 || special(v) {
		return fmt.Sprintf("%.4g", v), nil
	}
	v, prefix := scaled(v, 1024, binLarge, true)
	return fmt.Sprintf("%.4g%s", v, prefix), nil
}

func humanizeDuration(i interface{}) (string, error) {
	v, err := convertToFloat(i)
	if err != nil {
		return "", err
	}
	switch {
	case special(v):
		return fmt.Sprintf("%.4g", v), nil
	case v == 0:
		return "0s", nil
	case math.Abs(v) < 1:
		small, prefix := scaled(v, 1000, siSmall, false)
		return fmt.Sprintf("%.4g%ss", small, prefix), nil
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	whole := int64(v)
	units := []struct {
		n    int64
		unit string
	}{{whole / 86400, "d"}, {whole / 3600 % 24, "h"}, {whole / 60 % 60, "m"}, {whole % 60, "s"}}
	for first, u := range units[:3] {
		if u.n == 0 {
			continue
		}
		// From the largest unit present down to whole seconds.
		parts := make([]string, 0, 4)
		for _, rest := range units[first:] {
			parts = append(parts, fmt.Sprintf("%d%s", rest.n, rest.unit))
		}
		return sign + strings.Join(parts, " "), nil
	}
	return fmt.Sprintf("%s%.4gs", sign, v), nil
}

func humanizePercentage(i interface{}) (string, error) {
	v, err := convertToFloat(i)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%.4g%%", v*100), nil
}

func humanizeTimestamp(i interface{}) (string, error) {
	v, err := convertToFloat(i)
	if err != nil {
		return "", err
	}
	tm, err := floatToTime(v)
	switch {
	case errors.Is(err, errNaNOrInf):
		return fmt.Sprintf("%.4g", v), nil
	case err != nil:
		return "", err
	}
	return fmt.Sprint(tm), nil
}

func toTime(i interface{}) (*time.Time, error) {
	v, err := convertToFloat(i)
	if err != nil {
		return nil, err
	}
	return floatToTime(v)
}

// parseDuration accepts Prometheus' duration syntax (units y w d h m s ms, largest first, e.g.
// "1h30m"); our templates never call it, it exists so that a template using it parses.
var durationRe = regexp.MustCompile(`^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$`)

func modelParseDuration(s string) (time.Duration, error) {
	m := durationRe.FindStringSubmatch(s)
	if s == "" || s == "0" || m == nil {
		if s == "0" {
			return 0, nil
		}
		return 0, fmt.Errorf("not a valid duration string: %q", s)
	}
	units := []time.Duration{365 * 24 * time.Hour, 7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute,
		time.Second, time.Millisecond}
	var total time.Duration
	for i, unit := range units {
		if m[i+1] != "" {
			n, err := strconv.ParseInt(m[i+1], 10, 64)
			if err != nil {
				return 0, err
			}
			total += time.Duration(n) * unit
		}
	}
	return total, nil
}

func stripPort(hostPort string) string {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return hostPort
	}
	return host
}

func stripDomain(hostPort string) string {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	if net.ParseIP(host) != nil {
		return hostPort
	}
	host = strings.Split(host, ".")[0]
	if port != "" {
		return net.JoinHostPort(host, port)
	}
	return host
}

func reReplaceAll(pattern, repl, text string) string {
	re := regexp.MustCompile(pattern) // panics on a bad pattern, as in Prometheus/Alertmanager
	return re.ReplaceAllString(text, repl)
}

// ---------------------------------------------------------------------------------------------
// Grafana's additions and overrides: grafana/grafana pkg/services/ngalert/state/template/funcs.go

type exploreQuery struct {
	Datasource string `json:"datasource"`
	Expr       string `json:"expr"`
}

func exploreLink(data string, instant bool) string {
	var q exploreQuery
	if err := json.Unmarshal([]byte(data), &q); err != nil {
		return ""
	}
	datasource := url.QueryEscape(q.Datasource)
	expr := url.QueryEscape(q.Expr)
	return fmt.Sprintf(`/explore?left={"datasource":%[1]q,"queries":[{"datasource":%[1]q,"expr":%[2]q,"instant":%[3]t,"range":%[4]t,"refId":"A"}],"range":{"from":"now-1h","to":"now"}}`,
		datasource, expr, instant, !instant)
}

// pickLabels keeps the labels whose name passes keep (filterLabels/removeLabels and their Re forms).
func pickLabels(m Labels, keep func(string) bool) Labels {
	res := make(Labels)
	for k, v := range m {
		if keep(k) {
			res[k] = v
		}
	}
	return res
}

func filterLabels(m Labels, match string) Labels {
	return pickLabels(m, func(k string) bool { return k == match })
}

func filterLabelsRe(m Labels, pattern string) Labels {
	return pickLabels(m, regexp.MustCompile(pattern).MatchString)
}

func removeLabels(m Labels, match string) Labels {
	return pickLabels(m, func(k string) bool { return k != match })
}

func removeLabelsRe(m Labels, pattern string) Labels {
	re := regexp.MustCompile(pattern)
	return pickLabels(m, func(k string) bool { return !re.MatchString(k) })
}

func mergeLabelValues(values map[string]Value) Labels {
	sets := make(map[string]map[string]struct{})
	for _, value := range values {
		for k, v := range value.Labels {
			if sets[k] == nil {
				sets[k] = map[string]struct{}{}
			}
			sets[k][v] = struct{}{}
		}
	}
	res := make(Labels)
	for label, vals := range sets {
		keys := make([]string, 0, len(vals))
		for val := range vals {
			keys = append(keys, val)
		}
		sort.Strings(keys)
		res[label] = strings.Join(keys, ", ")
	}
	return res
}

func ruleFuncs(externalURL *url.URL) template.FuncMap {
	return template.FuncMap{
		// query() is a no-op in Grafana (its queryFunc returns an empty vector).
		"query": func(q string) (queryResult, error) { return queryResult{}, nil },
		"first": func(v queryResult) (*sample, error) {
			if len(v) > 0 {
				return v[0], nil
			}
			return nil, errors.New("first() called on vector with no elements")
		},
		"label":    func(label string, s *sample) string { return s.Labels[label] },
		"value":    func(s *sample) interface{} { return s.Value },
		"strvalue": func(s *sample) string { return s.Labels["__value__"] },
		"args": func(args ...interface{}) map[string]interface{} {
			result := make(map[string]interface{})
			for i, a := range args {
				result[fmt.Sprintf("arg%d", i)] = a
			}
			return result
		},
		"reReplaceAll": reReplaceAll,
		"safeHtml":     func(text string) html_template.HTML { return html_template.HTML(text) },
		"match":        regexp.MatchString,
		"title":        strings.Title, //nolint:staticcheck // Prometheus uses strings.Title
		"toUpper":      strings.ToUpper,
		"toLower":      strings.ToLower,
		// Grafana's overrides of Prometheus' graphLink/tableLink.
		"graphLink": func(data string) string { return exploreLink(data, false) },
		"tableLink": func(data string) string { return exploreLink(data, true) },
		"sortByLabel": func(label string, v queryResult) queryResult {
			sort.SliceStable(v, func(i, j int) bool { return v[i].Labels[label] < v[j].Labels[label] })
			return v
		},
		"stripPort":          stripPort,
		"stripDomain":        stripDomain,
		"humanize":           humanize,
		"humanize1024":       humanize1024,
		"humanizeDuration":   humanizeDuration,
		"humanizePercentage": humanizePercentage,
		"humanizeTimestamp":  humanizeTimestamp,
		"toTime":             toTime,
		"pathPrefix":         func() string { return externalURL.Path },
		"externalURL":        func() string { return externalURL.String() },
		"parseDuration": func(d string) (float64, error) {
			v, err := modelParseDuration(d)
			if err != nil {
				return 0, err
			}
			return float64(v) / float64(time.Second), nil
		},
		// Grafana's defaultFuncs.
		"filterLabels":     filterLabels,
		"filterLabelsRe":   filterLabelsRe,
		"removeLabels":     removeLabels,
		"removeLabelsRe":   removeLabelsRe,
		"mergeLabelValues": mergeLabelValues,
	}
}

// ---------------------------------------------------------------------------------------------
// Alertmanager template.DefaultFuncs (grafana/prometheus-alertmanager fork, template/template.go).

// titleCase approximates cases.Title(language.AmericanEnglish) (golang.org/x/text, not in the
// standard library): the first letter of each word upper case, the rest lower case.
func titleCase(text string) string {
	var b strings.Builder
	prevLetter := false
	for _, r := range text {
		isLetter := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\''
		if isLetter && !prevLetter {
			b.WriteRune(unicode.ToTitle(r))
		} else if isLetter {
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
		prevLetter = isLetter
	}
	return b.String()
}

func notificationFuncs() template.FuncMap {
	return template.FuncMap{
		"toUpper":      strings.ToUpper,
		"toLower":      strings.ToLower,
		"title":        titleCase,
		"trimSpace":    strings.TrimSpace,
		"join":         func(sep string, s []string) string { return strings.Join(s, sep) },
		"match":        regexp.MatchString,
		"safeHtml":     func(text string) html_template.HTML { return html_template.HTML(text) },
		"reReplaceAll": reReplaceAll,
		"stringSlice":  func(s ...string) []string { return s },
		// date/tz: Alertmanager #3812 (2024-04); in the fork pinned by grafana/alerting v11.6.x-12.x.
		"date": func(fmt string, t time.Time) string { return t.Format(fmt) },
		"tz": func(name string, t time.Time) (time.Time, error) {
			loc, err := time.LoadLocation(name)
			if err != nil {
				return time.Time{}, err
			}
			return t.In(loc), nil
		},
	}
}

// ---------------------------------------------------------------------------------------------

const rulePrelude = "{{- $labels := .Labels -}}{{- $values := .Values -}}{{- $value := .Value -}}"

type item struct {
	Name string          `json:"name"`
	Text string          `json:"text"`
	Data json.RawMessage `json:"data"`
}

type request struct {
	Kind        string `json:"kind"`
	ExternalURL string `json:"external_url"`
	Items       []item `json:"items"`
}

type result struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Output *string `json:"output,omitempty"`
	Error  string  `json:"error,omitempty"`
}

func decodeStrict(raw json.RawMessage, into interface{}) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// expandRule follows Grafana's Expand() around Prometheus' Expander.Expand().
func expandRule(it item, externalURL *url.URL) (out string, err error) {
	var data RuleData
	if err := decodeStrict(it.Data, &data); err != nil {
		return "", fmt.Errorf("emulator: bad rule data for %q: %w", it.Name, err)
	}
	name := "__alert_" + it.Name
	tmplText := rulePrelude + it.Text
	defer func() { // Prometheus' Expand(): a panic becomes the error
		if r := recover(); r != nil {
			var ok bool
			err, ok = r.(error)
			if !ok {
				err = fmt.Errorf("panic expanding template %v: %v", name, r)
			}
		}
		if err != nil {
			err = fmt.Errorf("failed to expand template '%s': %w", tmplText, err)
		}
	}()
	tmpl := template.New(name).Funcs(ruleFuncs(externalURL))
	tmpl.Option("missingkey=invalid")
	tmpl, err = tmpl.Parse(tmplText)
	if err != nil {
		return "", fmt.Errorf("error parsing template %v: %w", name, err)
	}
	var buf bytes.Buffer
	if err = tmpl.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("error executing template %v: %w", name, err)
	}
	return strings.ReplaceAll(buf.String(), "<no value>", "[no value]"), nil
}

// expandNotification follows Alertmanager's Template.ExecuteTextString.
func expandNotification(it item) (out string, err error) {
	var data ExtendedData
	if err := decodeStrict(it.Data, &data); err != nil {
		return "", fmt.Errorf("emulator: bad notification data for %q: %w", it.Name, err)
	}
	if it.Text == "" {
		return "", nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(notificationFuncs()).Parse(it.Text)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, data)
	if err != nil {
		return "", err
	}
	return buf.String(), nil
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read stdin:", err)
		os.Exit(2)
	}
	var req request
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(2)
	}
	if req.ExternalURL == "" {
		req.ExternalURL = "http://localhost:3000/"
	}
	externalURL, err := url.Parse(req.ExternalURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad external_url:", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(req.Items))
	for _, it := range req.Items {
		var out string
		switch req.Kind {
		case "rule":
			out, err = expandRule(it, externalURL)
		case "notification":
			out, err = expandNotification(it)
		default:
			fmt.Fprintf(os.Stderr, "unknown kind %q (want rule or notification)\n", req.Kind)
			os.Exit(2)
		}
		if err != nil {
			if strings.HasPrefix(err.Error(), "emulator: ") {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			results = append(results, result{Name: it.Name, OK: false, Error: err.Error()})
		} else {
			o := out
			results = append(results, result{Name: it.Name, OK: true, Output: &o})
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(2)
	}
}

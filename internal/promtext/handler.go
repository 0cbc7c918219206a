package promtext

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ContentType is the media type of the text format 0.0.4, the only one
// served: every Prometheus server and scraper reads it.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// The handler's own families, with client_golang promhttp's names and
// meanings: the scrapes served, by status code (counted once each is
// done), and those being served now (this one included).
var (
	mRequests = &Desc{Name: "promhttp_metric_handler_requests_total", Type: Counter,
		Help: "Total number of scrapes by HTTP status code.", Labels: []string{"code"}}
	mInFlight = &Desc{Name: "promhttp_metric_handler_requests_in_flight", Type: Gauge,
		Help: "Current number of scrapes being served."}
)

// Handler serves the exposition of a new Set on every request: filled by
// each of collect in turn and by the handler's own families. An error of
// a collect function is logged and the scrape goes on with what it and
// the others added, as client_golang's ContinueOnError did. The response
// is gzipped when the request accepts it; ?name[]=NAME (repeatable)
// keeps only the families named.
func Handler(log *slog.Logger, collect ...func(*Set) error) http.Handler {
	h := &handler{log: log, served: map[int]uint64{}}
	// The codes promhttp always exported, at 0 until they happen: only
	// 200 does, since what was gathered is always served.
	for _, code := range []int{http.StatusOK, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		h.served[code] = 0
	}
	h.collect = append(slices.Clip(collect), h.collectOwn)
	return h
}

type handler struct {
	log      *slog.Logger
	collect  []func(*Set) error
	inFlight atomic.Int64

	mu     sync.Mutex
	served map[int]uint64 // by status code
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	var set Set
	for _, c := range h.collect {
		if err := c(&set); err != nil {
			h.log.Warn("gathering metrics", "err", err)
		}
	}
	if names := r.URL.Query()["name[]"]; len(names) > 0 {
		set.Filter(func(name string) bool { return slices.Contains(names, name) })
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Add("Vary", "Accept-Encoding")
	var out io.Writer = w
	if acceptsGzip(r.Header) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(gz)
		gz.Reset(w)
		defer gz.Close()
		out = gz
	}
	w.WriteHeader(http.StatusOK)
	if err := set.Write(out); err != nil {
		h.log.Debug("writing metrics", "err", err) // the scraper went away
	}
	h.mu.Lock()
	h.served[http.StatusOK]++
	h.mu.Unlock()
}

func (h *handler) collectOwn(s *Set) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for code, n := range h.served {
		if err := s.Add(mRequests, float64(n), strconv.Itoa(code)); err != nil {
			return err
		}
	}
	return s.Add(mInFlight, float64(h.inFlight.Load()))
}

// Families are the definitions of the families Go, Process and Handler add,
// sorted by name, for the documentation.
func Families() []Desc {
	out := []Desc{*mGoroutines, *mThreads, *mGoInfo, *mGCDuration, *mGOGC, *mMemLimit, *mMaxProcs,
		*mCPU, *mOpenFDs, *mMaxFDs, *mVirtual, *mVirtMax, *mResident, *mStart, *mNetRx, *mNetTx, *mRequests, *mInFlight}
	for _, m := range memStats {
		out = append(out, m.desc)
	}
	slices.SortFunc(out, func(a, b Desc) int { return strings.Compare(a.Name, b.Name) })
	return out
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// acceptsGzip says whether the request's Accept-Encoding prefers gzip to
// no encoding, as promhttp negotiated it: gzip (or *) with a higher q-value
// than identity (or *, when listed), and above 0.
func acceptsGzip(h http.Header) bool {
	gzipQ, identityQ := -1.0, -1.0
	for _, v := range h.Values("Accept-Encoding") {
		for _, spec := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(spec, ";")
			q := 1.0
			if params = strings.TrimSpace(params); params != "" {
				qs, ok := strings.CutPrefix(params, "q=")
				f, err := strconv.ParseFloat(qs, 64)
				if !ok || err != nil || f < 0 || f > 1 {
					continue
				}
				q = f
			}
			switch coding = strings.TrimSpace(coding); {
			case coding == "*":
				gzipQ, identityQ = max(gzipQ, q), max(identityQ, q)
			case strings.EqualFold(coding, "gzip"):
				gzipQ = max(gzipQ, q)
			case strings.EqualFold(coding, "identity"):
				identityQ = max(identityQ, q)
			}
		}
	}
	return gzipQ > identityQ && gzipQ > 0
}

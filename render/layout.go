package render

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// Layout of text for a width: prose wrapped at spaces, table cells cut
// with an ellipsis, long free-text columns moved below the table. Widths
// are display columns (lipgloss.Width: escape sequences count nothing,
// wide runes two), so styled and plain text fit alike.

// ellipsis ends a cut cell.
const ellipsis = "…"

// minCell is the narrowest a table column is cut to; minHeader the
// narrowest a header is cut to while cells can still give.
const (
	minCell   = 3
	minHeader = 6
)

// wrapText breaks s into lines of at most width columns at spaces; a word
// wider than width is cut into pieces. The spaces inside a line are kept
// as they are (two spaces between a title and its detail stay two).
// width 0 leaves s on one line.
func wrapText(s string, width int) []string {
	if width <= 0 || lipgloss.Width(s) <= width {
		return []string{s}
	}
	var lines []string
	cur, curW := "", 0
	flush := func() {
		lines = append(lines, strings.TrimRight(cur, " "))
		cur, curW = "", 0
	}
	for i, word := range strings.Split(s, " ") {
		w := lipgloss.Width(word)
		switch {
		case i == 0:
		case curW+1+w <= width:
			cur += " "
			curW++
		default:
			flush()
		}
		for w > width {
			head, rest := cutWidth(word, width-curW)
			cur += head
			flush()
			word, w = rest, lipgloss.Width(rest)
		}
		if curW == 0 && word == "" {
			continue // spaces where a line broke
		}
		cur += word
		curW += w
	}
	if cur != "" || len(lines) == 0 {
		flush()
	}
	return lines
}

// cutWidth splits plain s after at most width columns.
func cutWidth(s string, width int) (head, rest string) {
	w := 0
	for i, r := range s {
		rw := lipgloss.Width(string(r))
		if w+rw > width {
			return s[:i], s[i:]
		}
		w += rw
	}
	return s, ""
}

// truncate cuts s to width columns, ending it with an ellipsis when cut.
func truncate(s string, width int) string {
	if lipgloss.Width(s) <= width {
		return s
	}
	if width < 1 {
		return ""
	}
	head, _ := cutWidth(s, width-1)
	return head + ellipsis
}

// truncateMiddle cuts s to width columns by taking out its middle.
func truncateMiddle(s string, width int) string {
	w := lipgloss.Width(s)
	if w <= width {
		return s
	}
	if width < 3 {
		return truncate(s, width)
	}
	head, _ := cutWidth(s, (width-1)/2)
	tailW := width - 1 - lipgloss.Width(head)
	rs := []rune(s)
	tail := ""
	for i := len(rs) - 1; i >= 0 && lipgloss.Width(string(rs[i])+tail) <= tailW; i-- {
		tail = string(rs[i]) + tail
	}
	return head + ellipsis + tail
}

// grid is a table laid out for a width: the columns kept in the grid with
// their widths, and the free-text columns moved below each row.
type grid struct {
	headers []string
	rows    [][]string
	widths  []int
	// below are the headers and, per row, the values of the columns moved
	// out of the grid.
	belowHeaders []string
	below        [][]string
}

// layoutTable fits headers and rows into width columns (0: no limit).
// overhead(n) is what n columns cost beyond their cells (separators,
// borders). The last spill columns are free text: when the table is too
// wide they leave the grid and are printed below it; then the widest
// columns are cut, cells ending in an ellipsis.
func layoutTable(headers []string, rows [][]string, width, spill int, overhead func(n int) int) grid {
	g := grid{headers: headers, rows: rows}
	measure := func() int {
		g.widths = make([]int, len(g.headers))
		for i, h := range g.headers {
			g.widths[i] = lipgloss.Width(h)
		}
		for _, r := range g.rows {
			for i, c := range r {
				if i < len(g.widths) {
					g.widths[i] = max(g.widths[i], lipgloss.Width(c))
				}
			}
		}
		total := overhead(len(g.widths))
		for _, w := range g.widths {
			total += w
		}
		return total
	}
	total := measure()
	if width <= 0 || total <= width {
		return g
	}
	if spill > 0 && spill < len(headers) {
		keep := len(headers) - spill
		g.headers, g.belowHeaders = headers[:keep], headers[keep:]
		g.rows = make([][]string, len(rows))
		g.below = make([][]string, len(rows))
		for i, r := range rows {
			n := min(keep, len(r))
			g.rows[i], g.below[i] = r[:n], r[n:]
		}
		total = measure()
	}
	// Cut the widest column: first headers wider than their cells (to
	// minHeader), then cells.
	cells := make([]int, len(g.widths))
	for _, r := range g.rows {
		for i, c := range r {
			if i < len(cells) {
				cells[i] = max(cells[i], lipgloss.Width(c))
			}
		}
	}
	for _, floor := range []func(i int) int{
		func(i int) int { return max(minCell, cells[i], min(lipgloss.Width(g.headers[i]), minHeader)) },
		func(int) int { return minCell },
	} {
		for total > width {
			widest := -1
			for i, w := range g.widths {
				if w > floor(i) && (widest < 0 || w > g.widths[widest]) {
					widest = i
				}
			}
			if widest < 0 {
				break
			}
			g.widths[widest]--
			total--
		}
	}
	// The first column names the row (a flow, an interface): its cells
	// keep both ends, where names differ.
	cut := func(r []string) []string {
		out := make([]string, len(r))
		for i, c := range r {
			if i == 0 {
				out[i] = truncateMiddle(c, g.widths[i])
			} else {
				out[i] = truncate(c, g.widths[i])
			}
		}
		return out
	}
	g.headers = cut(g.headers)
	for i, r := range g.rows {
		g.rows[i] = cut(r)
	}
	return g
}

// plainLine aligns cells to widths with two spaces between columns and no
// trailing blanks.
func plainLine(cells []string, widths []int) string {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", max(0, widths[i]-lipgloss.Width(c))))
		}
	}
	return strings.TrimRight(b.String(), " ")
}

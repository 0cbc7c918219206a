package diagnose

// A rule's judgement turns numbers into a severity through one ladder:
// grade(critical(...), warning(...), info(...)) is the severity of the
// first rung whose condition holds, 0 (no finding) when none does. The
// rungs read like the catalog's threshold sentence, and the words a
// finding says are written apart from them.

// level is one rung of a severity ladder.
type level struct {
	sev  Severity
	when bool
}

func critical(when bool) level { return level{Critical, when} }
func warning(when bool) level  { return level{Warning, when} }
func info(when bool) level     { return level{Info, when} }

// grade is the severity of the first level that holds, 0 when none does.
func grade(levels ...level) Severity {
	for _, l := range levels {
		if l.when {
			return l.sev
		}
	}
	return 0
}

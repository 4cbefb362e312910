/*
 * tests/bench/bench_goal.h: the machine-readable line a benchmark prints for
 * each figure that has a goal, beside its Markdown section. run-all.sh
 * (tests/bench/report.sh) collects these lines into the summary table at the
 * top of docs/PERFORMANCE.md and removes them from the section. Format, one
 * line, an HTML comment so that it is invisible if left in Markdown:
 *
 *   <!-- cs-goal | FIGURE | MEASURED | GOAL | met|missed -->
 *
 * FIGURE and units must not contain '|'. Header only (static functions), for
 * the bench programs.
 */
#ifndef CS_BENCH_GOAL_H
#define CS_BENCH_GOAL_H

#include <stdio.h>

/* Writes v with 3 significant digits or so into buf (no exponent). */
static inline const char *
cs_bench_num(char *buf, size_t len, double v)
{
	double a = v < 0 ? -v : v;

	if (a >= 100 || a == 0)
		snprintf(buf, len, "%.0f", v);
	else if (a >= 10)
		snprintf(buf, len, "%.1f", v);
	else if (a >= 0.1)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.3g", v);
	return buf;
}

/*
 * One figure against its goal: "v UNIT" measured, goal "OP g UNIT" where OP
 * is "<=" (lower is better) or ">=" (higher is better); met is decided here.
 */
static inline void
cs_bench_goal(const char *figure, double v, const char *op, double g, const char *unit)
{
	char a[32];
	int met = op[0] == '<' ? v <= g : v >= g;

	printf("<!-- cs-goal | %s | %s%s%s | %s %g%s%s | %s -->\n", figure,
	    cs_bench_num(a, sizeof(a), v), unit[0] != '\0' ? " " : "", unit, op, g,
	    unit[0] != '\0' ? " " : "", unit, met ? "met" : "missed");
}

#endif

/*
 * client/ctl/flags.c - command lookup, flag parsing and help, as etcdctl's
 * cobra + pflag do them.
 *
 * Lookup (cobra's Find/stripFlags): words that are not flags, nor values of
 * flags that take one, name the command path; everything else is parsed
 * against the command's flags, its ancestors' persistent flags and the
 * globals, interspersed with positional arguments, until "--".
 * Parsing (pflag): "--name=v", "--name v", "--bool", "-x v", "-xv",
 * "-x=v", combined boolean shorthands; pflag's error texts.
 * Help (etcd's cobrautl usage template): NAME, USAGE, VERSION (root), API
 * VERSION and COMMANDS (groups), DESCRIPTION, OPTIONS, GLOBAL OPTIONS,
 * laid out by text/tabwriter with flags sorted by name.
 */
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

#define HELP_FLAG_NAME "help"

void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int strlist_set_csv(struct strlist *l, const char *csv, bool append)
{
	if (!append)
		strlist_free(l);
	if (!*csv)
		return 0;
	const char *p = csv;
	for (;;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		char *s = strndup(p, n);
		l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
		l->v[l->n++] = s;
		if (!c)
			break;
		p = c + 1;
	}
	return 0;
}

struct flag *flag_find(struct flag *f, const char *name)
{
	for (; f && f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static struct flag *flag_find_short(struct flag *f, char c)
{
	for (; f && f->name; f++)
		if (f->shorthand == c)
			return f;
	return NULL;
}

/* Sets a flag from text; err gets pflag's message on failure. */
static int flag_set(struct flag *f, const char *v, struct buf *err)
{
	struct buf e = {0};
	int rv = 0;
	switch (f->type) {
	case FLAG_BOOL:
		rv = parse_bool(v, (bool *)f->ptr, &e);
		break;
	case FLAG_STRING: {
		char **s = f->ptr;
		free(*s);
		*s = strdup(v);
		break;
	}
	case FLAG_INT64:
		rv = parse_int64(v, 10, (int64_t *)f->ptr, &e);
		break;
	case FLAG_DURATION:
		rv = parse_duration(v, (int64_t *)f->ptr, &e);
		break;
	case FLAG_STRSLICE:
		strlist_set_csv(f->ptr, v, f->changed);
		break;
	}
	if (rv) {
		buf_puts(err, "invalid argument ");
		go_quote(err, v, strlen(v));
		buf_puts(err, " for ");
		struct buf n = {0};
		if (f->shorthand)
			buf_printf(&n, "-%c, --%s", f->shorthand, f->name);
		else
			buf_printf(&n, "--%s", f->name);
		go_quote(err, n.p, n.len);
		buf_free(&n);
		buf_printf(err, " flag: %s", buf_str(&e));
	} else {
		f->changed = true;
	}
	buf_free(&e);
	return rv;
}

void flags_reset(struct flag *f)
{
	for (; f && f->name; f++) {
		f->changed = false;
		struct buf e = {0};
		if (f->type == FLAG_STRSLICE) {
			strlist_set_csv(f->ptr, f->defval, false);
		} else if (f->type == FLAG_STRING) {
			char **s = f->ptr;
			free(*s);
			*s = strdup(f->defval);
		} else {
			flag_set(f, f->defval, &e);
			f->changed = false;
		}
		buf_free(&e);
	}
}

/* The flag sets visible to a command: local, ancestors' persistent,
 * globals. */
struct flagsets {
	struct flag *sets[8];
	size_t n;
};

static void collect(const struct cmd *c, struct flag *globals, struct flagsets *fs)
{
	fs->n = 0;
	if (c->flags)
		fs->sets[fs->n++] = c->flags;
	for (const struct cmd *a = c; a; a = a->parent)
		if (a->pflags && fs->n < 7)
			fs->sets[fs->n++] = a->pflags;
	fs->sets[fs->n++] = globals;
}

static struct flag *find_any(struct flagsets *fs, const char *name)
{
	for (size_t i = 0; i < fs->n; i++) {
		struct flag *f = flag_find(fs->sets[i], name);
		if (f)
			return f;
	}
	return NULL;
}

static struct flag *find_any_short(struct flagsets *fs, char c)
{
	for (size_t i = 0; i < fs->n; i++) {
		struct flag *f = flag_find_short(fs->sets[i], c);
		if (f)
			return f;
	}
	return NULL;
}

/* cobra's stripFlags + findNext: the next command word in args, or NULL. */
static const struct cmd *next_cmd(const struct cmd *c, struct flag *globals, int argc, char **argv,
                                  int *at)
{
	struct flagsets fs;
	collect(c, globals, &fs);
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--") == 0)
			return NULL;
		if (strncmp(s, "--", 2) == 0 && !strchr(s, '=')) {
			struct flag *f = find_any(&fs, s + 2);
			if (!(f && f->type == FLAG_BOOL) && strcmp(s + 2, HELP_FLAG_NAME) != 0) {
				if (argc - i - 1 <= 1)
					return NULL;
				i++;
			}
			continue;
		}
		if (s[0] == '-' && strlen(s) == 2) {
			struct flag *f = find_any_short(&fs, s[1]);
			if (!(f && f->type == FLAG_BOOL) && s[1] != 'h') {
				if (argc - i - 1 <= 1)
					return NULL;
				i++;
			}
			continue;
		}
		if (s[0] == '-' || !s[0])
			continue;
		/* The first command word: a subcommand of c, or nothing. */
		for (const struct cmd *sc = c->subs; sc && sc->name; sc++) {
			if (strcmp(sc->name, s) == 0) {
				*at = i;
				return sc;
			}
		}
		return NULL;
	}
	return NULL;
}

static int parse_args(struct flagsets *fs, int argc, char **argv, struct parsed *p, struct buf *err)
{
	for (int i = 0; i < argc; i++) {
		char *s = argv[i];
		if (s[0] != '-' || strlen(s) == 1) {
			p->args[p->nargs++] = s;
			continue;
		}
		if (s[1] == '-') {
			if (s[2] == '\0') {
				p->dash = p->nargs;
				for (i++; i < argc; i++)
					p->args[p->nargs++] = argv[i];
				break;
			}
			const char *name = s + 2;
			if (name[0] == '-' || name[0] == '=') {
				buf_printf(err, "bad flag syntax: %s", s);
				return -1;
			}
			const char *eq = strchr(name, '=');
			char *fname = eq ? strndup(name, (size_t)(eq - name)) : strdup(name);
			struct flag *f = find_any(fs, fname);
			if (!f) {
				int help = strcmp(fname, HELP_FLAG_NAME) == 0;
				if (!help)
					buf_printf(err, "unknown flag: --%s", fname);
				free(fname);
				return help ? 1 : -1;
			}
			free(fname);
			const char *v;
			if (eq) {
				v = eq + 1;
			} else if (f->type == FLAG_BOOL) {
				v = "true";
			} else if (i + 1 < argc) {
				v = argv[++i];
			} else {
				buf_printf(err, "flag needs an argument: %s", s);
				return -1;
			}
			if (flag_set(f, v, err))
				return -1;
			continue;
		}
		/* shorthands */
		for (const char *sh = s + 1; *sh;) {
			char c = *sh;
			struct flag *f = find_any_short(fs, c);
			if (!f) {
				if (c == 'h')
					return 1;
				buf_puts(err, "unknown shorthand flag: ");
				buf_printf(err, "'%c' in -%s", c, sh);
				return -1;
			}
			const char *v;
			const char *next = sh + 1;
			char *own = NULL;
			if (strlen(sh) > 2 && sh[1] == '=') {
				v = sh + 2;
				next = sh + strlen(sh);
			} else if (f->type == FLAG_BOOL) {
				v = "true";
			} else if (strlen(sh) > 1) {
				v = sh + 1;
				next = sh + strlen(sh);
			} else if (i + 1 < argc) {
				v = argv[++i];
			} else {
				buf_printf(err, "flag needs an argument: '%c' in -%s", c, sh);
				return -1;
			}
			int rv = flag_set(f, v, err);
			free(own);
			if (rv)
				return -1;
			sh = next;
		}
	}
	return 0;
}

int flags_parse(const struct cmd *root, struct flag *globals, int argc, char **argv,
                struct parsed *p, struct buf *err)
{
	/* Find the command: each level removes its command word. */
	char **rest = calloc((size_t)argc + 1, sizeof *rest);
	int n = argc;
	memcpy(rest, argv, (size_t)argc * sizeof *rest);
	const struct cmd *c = root;
	for (;;) {
		int at;
		const struct cmd *sc = next_cmd(c, globals, n, rest, &at);
		if (!sc)
			break;
		memmove(rest + at, rest + at + 1, (size_t)(n - at - 1) * sizeof *rest);
		n--;
		c = sc;
	}
	p->cmd = c;
	p->args = calloc((size_t)n + 1, sizeof *p->args);
	p->nargs = 0;
	p->dash = -1;
	struct flagsets fs;
	collect(c, globals, &fs);
	int rv = parse_args(&fs, n, rest, p, err);
	free(rest);
	return rv;
}

int flags_parse_simple(struct flag *f, int argc, char **argv, char ***pos, int *npos,
                       struct buf *err)
{
	struct flagsets fs = {.sets = {f}, .n = 1};
	struct parsed p = {.args = calloc((size_t)argc + 1, sizeof(char *)), .dash = -1};
	int rv = parse_args(&fs, argc, argv, &p, err);
	*pos = p.args;
	*npos = p.nargs;
	return rv;
}

/* ---- help ------------------------------------------------------------------------ */

void cmd_path(struct buf *out, const struct cmd *c)
{
	if (!c->parent) {
		buf_puts(out, ctl_progname);
		return;
	}
	cmd_path(out, c->parent);
	buf_put(out, " ", 1);
	buf_puts(out, c->name);
}

static int flag_cmp(const void *a, const void *b)
{
	const struct flag *x = *(const struct flag *const *)a, *y = *(const struct flag *const *)b;
	return strcmp(x->name, y->name);
}

static const struct flag help_flag_proto = {
    .name = HELP_FLAG_NAME, .shorthand = 'h', .type = FLAG_BOOL, .defval = "false"};

/* etcd's cobrautl flag usages, sorted by name. */
static void flag_usages(struct buf *out, struct flag **fl, size_t n)
{
	qsort(fl, n, sizeof *fl, flag_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct flag *f = fl[i];
		if (f->shorthand)
			buf_printf(out, "  -%c, --%s", f->shorthand, f->name);
		else
			buf_printf(out, "      --%s", f->name);
		if (f->type == FLAG_BOOL)
			buf_printf(out, "[=%s]", f->defval);
		else if (f->type == FLAG_STRING)
			buf_printf(out, "=\"%s\"", f->defval);
		else if (f->type == FLAG_STRSLICE)
			buf_printf(out, "=[%s]", f->defval);
		else
			buf_printf(out, "=%s", f->defval);
		buf_printf(out, "\t%s\n", f->usage);
	}
}

static void add_flags(struct flag ***fl, size_t *n, struct flag *set)
{
	for (; set && set->name; set++) {
		*fl = realloc(*fl, (*n + 1) * sizeof **fl);
		(*fl)[(*n)++] = set;
	}
}

/* Runnable commands under c, with their path relative to c. */
static void list_subs(struct buf *out, const struct cmd *c, const char *prefix, bool recurse)
{
	for (const struct cmd *sc = c->subs; sc && sc->name; sc++) {
		struct buf name = {0};
		if (*prefix)
			buf_printf(&name, "%s %s", prefix, sc->name);
		else
			buf_puts(&name, sc->name);
		if (sc->run)
			buf_printf(out, "\t%s\t%s\n", buf_str(&name), sc->short_desc);
		if (recurse && sc->subs)
			list_subs(out, sc, buf_str(&name), recurse);
		buf_free(&name);
	}
}

/* Root's COMMANDS list is sorted by full path. */
static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void cmd_help(struct buf *out, const struct cmd *c, struct flag *globals)
{
	struct buf t = {0};
	struct buf path = {0};
	cmd_path(&path, c);
	/* NAME is the path below the root: "lease grant" */
	const char *below = strchr(buf_str(&path), ' ');
	buf_printf(&t, "NAME:\n\t%s - %s\n\n", below ? below + 1 : ctl_progname, c->short_desc);
	buf_printf(&t, "USAGE:\n\t%s%s%s [flags]\n", buf_str(&path), c->use && *c->use ? " " : "",
	           c->use ? c->use : "");
	if (!c->parent)
		buf_printf(&t, "\nVERSION:\n\t%s\n", CAIRN_VERSION);
	if (c->subs) {
		buf_printf(&t, "\nAPI VERSION:\n\t%s\n", CAIRN_API_VERSION);
		buf_puts(&t, "\n\nCOMMANDS:\n");
		struct buf l = {0};
		list_subs(&l, c, "", !c->parent);
		/* sort lines */
		size_t nl = 0;
		char **lines = NULL;
		char *p = l.p;
		while (p && *p) {
			char *e = strchr(p, '\n');
			lines = realloc(lines, (nl + 1) * sizeof *lines);
			lines[nl++] = strndup(p, (size_t)(e - p + 1));
			p = e + 1;
		}
		qsort(lines, nl, sizeof *lines, line_cmp);
		for (size_t i = 0; i < nl; i++) {
			buf_puts(&t, lines[i]);
			free(lines[i]);
		}
		free(lines);
		buf_free(&l);
	}
	if (c->long_desc) {
		buf_puts(&t, "\nDESCRIPTION:\n");
		const char *p = c->long_desc;
		for (;;) {
			const char *e = strchr(p, '\n');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			buf_put(&t, "\t", 1);
			buf_put(&t, p, n);
			buf_put(&t, "\n", 1);
			if (!e)
				break;
			p = e + 1;
		}
	}
	struct flag help = help_flag_proto;
	help.usage = NULL;
	struct buf hu = {0};
	buf_printf(&hu, "help for %s", c->parent ? c->name : ctl_progname);
	help.usage = buf_str(&hu);
	struct flag **fl = NULL;
	size_t n = 0;
	add_flags(&fl, &n, c->flags);
	add_flags(&fl, &n, c->pflags);
	if (!c->parent)
		add_flags(&fl, &n, globals);
	fl = realloc(fl, (n + 1) * sizeof *fl);
	fl[n++] = &help;
	buf_puts(&t, "\nOPTIONS:\n");
	flag_usages(&t, fl, n);
	free(fl);
	if (c->parent) {
		fl = NULL;
		n = 0;
		for (const struct cmd *a = c->parent; a; a = a->parent)
			add_flags(&fl, &n, a->pflags);
		add_flags(&fl, &n, globals);
		buf_puts(&t, "\nGLOBAL OPTIONS:\n");
		flag_usages(&t, fl, n);
		free(fl);
	}
	buf_puts(&t, "\n");
	tabwriter(out, t.p, t.len);
	buf_free(&t);
	buf_free(&hu);
	buf_free(&path);
}

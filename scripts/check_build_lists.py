#!/usr/bin/env python3
"""Checks that CMake and Bazel build the same files.

Usage: scripts/check_build_lists.py [--verbose] [ROOT]

Fails (exit 1), naming each file, when a source or test file (*.cc, *.h,
*.proto, tests' *_test.py and *_test.js) is in one build and not the other,
or when the two builds' versions differ. Exit 2: a build file it cannot read.

CMake: the CMakeLists.txt files are run by a small interpreter (set, list,
function, foreach, while(VAR), if, file(GLOB), get_filename_component,
cmake_parse_arguments, add_subdirectory). Both branches of every if() are
taken, so a file counts when any configuration builds it (the fuzzers of
-DMXGATE_FUZZ=ON too). A file is listed
when an argument of add_library, add_executable, target_sources,
add_custom_command or add_test names it; so `mxgate_library(status_details)`
lists service/status_details.cc, and mxgate_tests' glob lists the tests.
CMake never lists headers: one counts when a listed file includes it
(#include "...", followed from file to file).

Bazel: the BUILD.bazel files, and the .bzl files they load, are run as
Python (Starlark is close enough for ours) with stand-ins for the rules that
record each rule's srcs, hdrs, textual_hdrs and data, and a glob() that
stops at subpackages, as Bazel's does.

Files neither build lists (a test run by a script, a file being written)
are printed as notes and do not fail the check.
"""
import glob
import os
import re
import sys

KINDS = re.compile(r"(\.cc|\.h|\.proto|_test\.py|_test\.js)$")


def is_tracked(path):
    """A file kind the builds must agree on (tests' scripts only in tests/)."""
    if path.endswith((".py", ".js")):
        return path.startswith("tests/") and KINDS.search(path) is not None
    return KINDS.search(path) is not None


class BuildFileError(Exception):
    pass


# ---------------------------------------------------------------- CMake ---

def cmake_commands(path):
    """[(line, name, [(text, quoted)])] of a CMakeLists.txt."""
    text = open(path, encoding="utf-8").read()
    commands, i, line = [], 0, 1
    call = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(")
    while i < len(text):
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        else:
            m = call.match(text, i)
            if not m:
                raise BuildFileError(f"{path}:{line}: cannot read {text[i:i + 30]!r}")
            name, i, start_line = m.group(1).lower(), m.end(), line
            args, depth = [], 0
            while True:
                if i >= len(text):
                    raise BuildFileError(f"{path}:{start_line}: unclosed {name}(")
                c = text[i]
                if c == "\n":
                    line += 1
                    i += 1
                elif c in " \t\r":
                    i += 1
                elif c == "#":
                    i = text.find("\n", i)
                elif c == "(":
                    depth += 1
                    i += 1
                elif c == ")":
                    i += 1
                    if depth == 0:
                        break
                    depth -= 1
                elif c == '"':
                    j = i + 1
                    while text[j] != '"':
                        j += 2 if text[j] == "\\" else 1
                    value = text[i + 1:j]
                    line += value.count("\n")
                    args.append((value, True))
                    i = j + 1
                else:
                    # Unquoted, which may hold "..." after its start (-DX="y").
                    m = re.compile(r'(?:\$<[^>]*>|\\.|"[^"]*"|[^\s()#"])+').match(text, i)
                    args.append((m.group(0), False))
                    i = m.end()
            commands.append((start_line, name, args))
    return commands


class CMake:
    """Runs CMakeLists.txt files for the files they build, nothing else."""

    def __init__(self, root):
        self.root = root
        self.functions = {}
        self.listed = {}  # repo-relative path -> "file:line command"
        self.version = None

    def run_directory(self, folder, variables):
        path = os.path.join(folder, "CMakeLists.txt")
        scope = dict(variables, CMAKE_CURRENT_SOURCE_DIR=folder, CMAKE_CURRENT_LIST_DIR=folder)
        self.run(cmake_commands(path), scope, path)

    def expand(self, text, scope):
        # Innermost ${...} first, so ${${name}} works; $<...> is left alone.
        pattern = re.compile(r"\$(?:ENV)?\{([^${}]*)\}")
        while True:
            new = pattern.sub(lambda m: scope.get(m.group(1), ""), text)
            if new == text:
                return text
            text = new

    def arguments(self, args, scope):
        values = []
        for text, quoted in args:
            value = self.expand(text, scope)
            if quoted:
                values.append(value)
            elif value:
                values.extend(v for v in value.split(";") if v)
        return values

    def run(self, commands, scope, path, parent=None, call_site=None):
        """Runs `commands`; inside a function, `call_site` names the call."""
        i = 0
        while i < len(commands):
            line, name, raw = commands[i]
            i += 1
            if name in ("function", "macro", "foreach", "while"):
                # The body: up to the matching end command.
                depth, body_start = 1, i
                while depth:
                    if i >= len(commands):
                        raise BuildFileError(f"{path}:{line}: no end{name}()")
                    inner = commands[i][1]
                    depth += inner == name
                    depth -= inner == "end" + name
                    i += 1
                body = commands[body_start:i - 1]
                if name == "while":
                    # Only while(VAR): loop while the list in VAR is not empty.
                    if len(raw) != 1 or raw[0][1]:
                        raise BuildFileError(f"{path}:{line}: while() on anything but a variable")
                    for _ in range(10000):
                        if not scope.get(raw[0][0], ""):
                            break
                        self.run(body, scope, path, parent, call_site)
                    continue
                args = self.arguments(raw, scope)
                if name == "foreach":
                    variable, items = args[0], args[1:]
                    if items[:1] == ["IN"]:
                        items = [v for k in items[2:] for v in scope.get(k, "").split(";") if v] \
                            if items[1:2] == ["LISTS"] else items[2:]
                    for item in items:
                        scope[variable] = item
                        self.run(body, scope, path, parent, call_site)
                else:
                    self.functions[args[0].lower()] = (args[1:], body, path)
                continue
            args = self.arguments(raw, scope)
            where = call_site or f"{os.path.relpath(path, self.root)}:{line} {name}"
            if name == "set":
                target = parent if "PARENT_SCOPE" in args and parent is not None else scope
                values = [a for a in args[1:] if a != "PARENT_SCOPE"]
                if "CACHE" in values:
                    values = values[:values.index("CACHE")]
                    if args[0] in scope:  # a cache entry does not override
                        continue
                target[args[0]] = ";".join(values)
            elif name == "list":
                items = [v for v in scope.get(args[1], "").split(";") if v]
                if args[0] == "APPEND":
                    items += args[2:]
                elif args[0] == "PREPEND":
                    items = args[2:] + items
                elif args[0] in ("POP_FRONT", "POP_BACK"):
                    for out in args[2:] or [None]:
                        value = (items.pop(0) if args[0] == "POP_FRONT" else items.pop()) \
                            if items else ""
                        if out:
                            scope[out] = value
                elif args[0] == "REMOVE_ITEM":
                    items = [v for v in items if v not in args[2:]]
                scope[args[1]] = ";".join(items)
            elif name == "project":
                scope["PROJECT_NAME"] = args[0]
                if "VERSION" in args:
                    self.version = scope["PROJECT_VERSION"] = args[args.index("VERSION") + 1]
            elif name == "file" and args[0] in ("GLOB", "GLOB_RECURSE"):
                patterns = [a for a in args[2:]
                            if a not in ("CONFIGURE_DEPENDS", "LIST_DIRECTORIES", "true", "false")]
                found = []
                for pattern in patterns:
                    pattern = os.path.join(scope["CMAKE_CURRENT_SOURCE_DIR"], pattern)
                    found += glob.glob(pattern, recursive=args[0] == "GLOB_RECURSE")
                scope[args[1]] = ";".join(sorted(found))
            elif name == "get_filename_component":
                value, part = args[1], args[2]
                scope[args[0]] = {
                    "NAME": os.path.basename(value),
                    "NAME_WE": os.path.basename(value).split(".")[0],
                    "DIRECTORY": os.path.dirname(value),
                    "EXT": "." + ".".join(os.path.basename(value).split(".")[1:]),
                }.get(part, value)
            elif name == "cmake_parse_arguments":
                prefix = args[0]
                options, singles, multis = ({k for k in a.split(";") if k} for a in args[1:4])
                for keyword in options | singles | multis:
                    scope[f"{prefix}_{keyword}"] = ""
                key = None
                for arg in args[4:]:
                    if arg in options:
                        scope[f"{prefix}_{arg}"], key = "TRUE", None
                    elif arg in singles or arg in multis:
                        key = arg
                    elif key is not None:
                        old = scope[f"{prefix}_{key}"]
                        scope[f"{prefix}_{key}"] = f"{old};{arg}" if old else arg
                        if key in singles:
                            key = None
            elif name == "add_subdirectory":
                self.run_directory(os.path.join(scope["CMAKE_CURRENT_SOURCE_DIR"], args[0]), scope)
            elif name in ("add_library", "add_executable", "target_sources",
                          "add_custom_command", "add_test"):
                for arg in args:
                    self.list_file(arg, scope, where)
            elif name in self.functions:
                params, body, body_path = self.functions[name]
                inner = dict(scope, ARGC=str(len(args)), ARGV=";".join(args),
                             ARGN=";".join(args[len(params):]))
                inner.update(zip(params, args))
                inner.update((f"ARGV{n}", a) for n, a in enumerate(args))
                self.run(body, inner, body_path, parent=scope, call_site=where)
            # Anything else (if/else/endif included) changes no file list.

    def list_file(self, arg, scope, where):
        if "$<" in arg:
            return
        path = os.path.normpath(os.path.join(scope["CMAKE_CURRENT_SOURCE_DIR"], arg))
        relative = os.path.relpath(path, self.root)
        if not relative.startswith("..") and os.path.isfile(path) and is_tracked(relative):
            self.listed.setdefault(relative, where)


def cmake_files(root):
    cmake = CMake(root)
    variables = {"CMAKE_SOURCE_DIR": root, "PROJECT_SOURCE_DIR": root,
                 "CMAKE_BINARY_DIR": "/nonexistent/cmake-binary-dir",
                 "CMAKE_CURRENT_BINARY_DIR": "/nonexistent/cmake-binary-dir"}
    cmake.run_directory(root, variables)
    add_included_headers(root, cmake.listed)
    return cmake.listed, cmake.version


def add_included_headers(root, listed):
    """CMake lists no header: add those the listed files include, transitively."""
    include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    pending = list(listed)
    while pending:
        path = pending.pop()
        if not path.endswith((".cc", ".h")):
            continue
        text = open(os.path.join(root, path), encoding="utf-8", errors="replace").read()
        for name in include.findall(text):
            for candidate in (name, os.path.join(os.path.dirname(path), name)):
                candidate = os.path.normpath(candidate)
                if os.path.isfile(os.path.join(root, candidate)) and is_tracked(candidate):
                    if candidate not in listed:
                        listed[candidate] = f"included by {path}"
                        pending.append(candidate)
                    break


# ---------------------------------------------------------------- Bazel ---

FILE_ATTRIBUTES = ("srcs", "hdrs", "textual_hdrs", "data")


class Bazel:
    """Runs BUILD.bazel files with rules that record the files they name."""

    def __init__(self, root, ignored):
        self.root = root
        self.ignored = ignored
        self.listed = {}
        self.modules = {}
        self.package = None

    def is_package(self, folder):
        return any(os.path.isfile(os.path.join(self.root, folder, name))
                   for name in ("BUILD.bazel", "BUILD"))

    def packages(self):
        for folder, dirs, files in os.walk(self.root):
            relative = os.path.relpath(folder, self.root)
            relative = "" if relative == "." else relative
            dirs[:] = sorted(d for d in dirs
                             if os.path.join(relative, d) not in self.ignored
                             and not d.startswith(("bazel-", ".git"))
                             and not os.path.isfile(os.path.join(folder, d, "WORKSPACE")))
            if self.is_package(relative):
                yield relative

    def glob(self, include, exclude=(), exclude_directories=1, allow_empty=True):
        package_dir = os.path.join(self.root, self.package)
        found = set()
        for folder, dirs, files in os.walk(package_dir):
            relative = os.path.relpath(folder, package_dir)
            relative = "" if relative == "." else relative
            dirs[:] = [d for d in dirs if not self.is_package(
                os.path.join(self.package, relative, d))]
            for name in files:
                path = os.path.join(relative, name)
                if any(self.matches(path, p) for p in include) and \
                        not any(self.matches(path, p) for p in exclude):
                    found.add(path)
        return sorted(found)

    @staticmethod
    def matches(path, pattern):
        """Bazel's glob patterns: * and ? within a name, ** for any folders."""
        regex = ""
        for part in pattern.split("/"):
            if part == "**":
                regex += "(?:[^/]+/)*"
            else:
                regex += "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
                                 for c in part) + "/"
        # The last part names a file: no "/" after it; after ** any file.
        regex = regex + "[^/]+" if pattern.endswith("**") else regex[:-1]
        return re.fullmatch(regex, path) is not None

    def rule(self, kind):
        def record(name=None, **attributes):
            where = f"{self.package or '.'}/BUILD.bazel {kind} {name}"
            for attribute in FILE_ATTRIBUTES:
                for label in attributes.get(attribute) or []:
                    self.list_label(label, where)
        return record

    def list_label(self, label, where):
        if label.startswith("@"):
            return
        if label.startswith("//"):
            package, _, name = label[2:].partition(":")
            name = name or os.path.basename(package)
        else:
            package, name = self.package, label.lstrip(":")
        path = os.path.normpath(os.path.join(package, name))
        if os.path.isfile(os.path.join(self.root, path)) and is_tracked(path):
            self.listed.setdefault(path, where)

    def environment(self, loading_file):
        class Native:
            pass

        native = Native()
        rules = ("cc_library", "cc_binary", "cc_test", "cc_import", "genrule", "filegroup",
                 "sh_test", "sh_binary", "sh_library", "py_test", "py_binary",
                 "py_library", "test_suite", "alias", "config_setting")
        for kind in rules:
            setattr(native, kind, self.rule(kind))
        native.glob = self.glob
        native.exports_files = lambda *a, **k: None
        native.package = lambda **k: None
        native.package_name = lambda: self.package
        native.repository_name = lambda: "@"

        def fail(message, *args):
            raise BuildFileError(f"{loading_file}: fail(): {message}")

        def load(label, *symbols, **aliases):
            wanted = {s: s for s in symbols}
            wanted.update(aliases)
            if label.startswith("@"):
                values = {s: getattr(native, s, lambda *a, **k: None) for s in wanted.values()}
            else:
                values = self.load_module(label)
            for local, exported in wanted.items():
                env[local] = values[exported]

        env = {k: getattr(native, k) for k in rules}
        env.update(native=native, glob=self.glob, load=load, fail=fail,
                   select=lambda choices, **k: [v for c in choices.values() for v in c],
                   package=native.package, exports_files=native.exports_files,
                   package_name=native.package_name, licenses=lambda *a: None)
        return env

    def load_module(self, label):
        package, _, name = label[2:].partition(":")
        path = os.path.join(package, name)
        if path not in self.modules:
            env = self.environment(path)
            self.execute(path, env)
            self.modules[path] = env
        return self.modules[path]

    def execute(self, path, env):
        try:
            code = compile(open(os.path.join(self.root, path), encoding="utf-8").read(),
                           path, "exec")
            exec(code, env)
        except BuildFileError:
            raise
        except Exception as error:  # a construct this reader does not know
            raise BuildFileError(f"{path}: cannot read it as Python: {error!r}") from error

    def run(self):
        for package in self.packages():
            self.package = package
            name = "BUILD.bazel" if os.path.isfile(
                os.path.join(self.root, package, "BUILD.bazel")) else "BUILD"
            self.execute(os.path.join(package, name), self.environment(name))
        return self.listed


def bazel_version(root):
    text = open(os.path.join(root, "bazel", "mxgate.bzl"), encoding="utf-8").read()
    m = re.search(r'^MXGATE_VERSION = "([^"]*)"', text, re.M)
    return m.group(1) if m else None


def ignored_paths(root):
    path = os.path.join(root, ".bazelignore")
    if not os.path.isfile(path):
        return set()
    return {line.strip().rstrip("/") for line in open(path, encoding="utf-8")
            if line.strip() and not line.startswith("#")}


def unlisted_files(root, ignored, known):
    """Tracked files in the folders the builds read, that neither lists."""
    for start in sorted({p.split("/")[0] for p in known if "/" in p}):
        for folder, dirs, files in os.walk(os.path.join(root, start)):
            relative = os.path.relpath(folder, root)
            dirs[:] = [d for d in dirs if os.path.join(relative, d) not in ignored
                       and d not in ("node_modules", "__pycache__")]
            for name in files:
                path = os.path.join(relative, name)
                if is_tracked(path) and path not in known:
                    yield path


def main(argv):
    verbose = "--verbose" in argv
    rest = [a for a in argv[1:] if a != "--verbose"]
    if rest[:1] == ["--help"]:
        print(__doc__.strip())
        return 0
    root = os.path.abspath(rest[0] if rest else os.path.join(os.path.dirname(__file__), ".."))
    ignored = ignored_paths(root)
    try:
        in_cmake, cmake_version = cmake_files(root)
        in_bazel = Bazel(root, ignored).run()
    except BuildFileError as error:
        print(f"check_build_lists: {error}", file=sys.stderr)
        return 2

    problems = []
    for path in sorted(set(in_cmake) - set(in_bazel)):
        problems.append(f"{path}: in CMake ({in_cmake[path]}), in no BUILD.bazel")
    for path in sorted(set(in_bazel) - set(in_cmake)):
        problems.append(f"{path}: in Bazel ({in_bazel[path]}), not in CMake")
    bazel_v = bazel_version(root)
    if cmake_version != bazel_v:
        problems.append(f"version: CMakeLists.txt project() says {cmake_version}, "
                        f"bazel/mxgate.bzl MXGATE_VERSION says {bazel_v}")
    if verbose:
        for path in sorted(in_cmake):
            print(f"  {path}: {in_cmake[path]} | {in_bazel.get(path, '-')}")
    for path in unlisted_files(root, ignored, set(in_cmake) | set(in_bazel)):
        print(f"note: {path} is in neither build")
    for problem in problems:
        print(f"FAIL: {problem}")
    print(f"check_build_lists: {len(in_cmake)} files in CMake, {len(in_bazel)} in Bazel, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

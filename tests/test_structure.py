"""The layering of fgm/: each module imports only from its own room or a lower one, no two modules import
each other, directly or round a loop, and none imports another's private (`_name`) names. The modules are
parsed with `ast`, not imported, so every import counts: relative or absolute, at the top of a file or
inside a function."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fgm"

# lowest first; an entry is a file or a folder ("name/") of fgm/
ROOMS = (
    ("remote code", "model/"),
    ("shared", "checkpoints.py inference.py results.py stats.py offline.py version.py model_card.py metrics/"),
    ("data", "data/"),
    ("training", "training/"),
    ("tasks", "context/ variants/ embeddings.py"),
    ("hub", "hub.py"),
    ("entry points", "commands/ cli.py demo.py __init__.py"),
)


def module_files() -> dict[str, str]:
    """Dotted module name -> file path relative to fgm/, for every module of the package."""
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        parts = ["fgm", *relative.with_suffix("").parts]
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = relative.as_posix()
    return files


def room(file: str) -> tuple[int, str] | None:
    """(level, name) of the room a file belongs to; None when no room lists it."""
    for level, (name, entries) in enumerate(ROOMS):
        if any(file == entry or entry.endswith("/") and file.startswith(entry) for entry in entries.split()):
            return level, name
    return None


def imports(module: str, file: str, modules: dict[str, str]):
    """(imported fgm module, line) for every import statement of a module, wherever it stands."""
    package = module.split(".") if file.endswith("__init__.py") else module.split(".")[:-1]
    for node in ast.walk(ast.parse((PACKAGE / file).read_text(), file)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module
            if node.level:  # relative: from the module's package, one level up per further dot
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            # `from fgm.training import metrics` imports the module fgm.training.metrics
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:  # an imported name, or a module outside fgm: its fgm parent
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name, node.lineno


def import_graph() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The modules' files, and module -> {imported module: line of its first import}."""
    modules = module_files()
    graph = {module: {} for module in modules}
    for module, file in modules.items():
        for target, line in imports(module, file, modules):
            graph[module][target] = min(line, graph[module].get(target, line))
    return modules, graph


def shortest_cycle(graph: dict[str, dict[str, int]], start: str) -> list[str] | None:
    """The modules of a shortest import loop from `start` back to itself (breadth-first), or None."""
    previous, frontier = {start: None}, [start]
    while frontier:
        next_frontier = []
        for module in frontier:
            if start in graph[module]:
                path = [module]
                while previous[path[0]] is not None:
                    path.insert(0, previous[path[0]])
                return path
            for target in graph[module]:
                if target not in previous:
                    previous[target] = module
                    next_frontier.append(target)
        frontier = next_frontier
    return None


def test_every_module_has_a_room():
    unplaced = [file for file in module_files().values() if room(file) is None]
    assert not unplaced, f"modules in no room of ROOMS (add each to the room it belongs to): {unplaced}"


def test_no_module_imports_from_a_higher_room():
    modules, graph = import_graph()
    upward = []
    for module, targets in graph.items():
        level, name = room(modules[module]) or (len(ROOMS), None)  # unplaced: the test above says so
        for target, line in targets.items():
            target_level, target_name = room(modules[target]) or (-1, None)
            if target_level > level:
                upward.append(f"fgm/{modules[module]}:{line} imports {target} (room {target_name!r}) "
                              f"from room {name!r}")
    assert not upward, "imports from a higher room:\n" + "\n".join(upward)


def test_no_import_cycle():
    modules, graph = import_graph()
    cycles = {}
    for start in graph:
        path = shortest_cycle(graph, start)
        if path is not None and frozenset(path) not in cycles:
            cycles[frozenset(path)] = " -> ".join(
                f"fgm/{modules[a]}:{graph[a][b]} imports {b}" for a, b in zip(path, path[1:] + path[:1]))
    assert not cycles, "import cycles:\n" + "\n".join(cycles.values())


def test_no_module_imports_a_private_name_of_another():
    private = []
    for module, file in module_files().items():
        for node in ast.walk(ast.parse((PACKAGE / file).read_text(), file)):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "fgm"):
                private += [f"fgm/{file}:{node.lineno} imports {alias.name}" for alias in node.names
                            if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not private, "private names imported from another module:\n" + "\n".join(private)


def test_the_readme_code_map_names_every_room_and_what_it_holds():
    readme = (PACKAGE.parent / "README.md").read_text()
    code_map = readme[readme.index("\n## Code map\n") : readme.index("\n## Install\n")]
    missing = [entry for _, entries in ROOMS for entry in entries.split()
               if entry != "__init__.py" and f"{entry}`" not in code_map]
    assert not missing, f"README's Code map does not name {missing}: add each to its room's row"
    assert all(f"`{path.name}`" in code_map for path in (PACKAGE / "model").glob("*_fgm.py")), "the remote-code files"


LONGEST_FUNCTION = 70  # lines of code, docstring excluded: a function longer than this mixes concerns


def code_lines(function: ast.FunctionDef) -> int:
    """Lines of `function` without its docstring."""
    total = function.end_lineno - function.lineno + 1
    if ast.get_docstring(function) is None or len(function.body) == 1:
        return total
    return total - (function.body[1].lineno - function.body[0].lineno)


def test_no_function_is_longer_than_a_screen_unless_its_docstring_says_why():
    long = []
    for file in module_files().values():
        for node in ast.walk(ast.parse((PACKAGE / file).read_text(), file)):
            if isinstance(node, ast.FunctionDef) and code_lines(node) > LONGEST_FUNCTION:
                if "longer than a screen" not in (ast.get_docstring(node) or ""):
                    long.append(f"{file}:{node.lineno} {node.name} ({code_lines(node)} lines)")
    assert not long, f"split these, or say in the docstring why each stays longer than a screen: {long}"

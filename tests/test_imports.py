"""The import graph of adaswitch: no module imports itself through others, the engine's layers
(engine, introspection, model, backends) never reach up into the learning stages, and nothing
below the evaluation driver (grading, the learning stages, the solver and the layers under it)
reaches up into it.

Lazy imports inside functions count: they make a circle all the same, only later."""

from __future__ import annotations

import grimp
import pytest

BELOW_LEARNING = ("adaswitch.engine", "adaswitch.introspection", "adaswitch.model", "adaswitch.backends")
BELOW_EVALUATION = BELOW_LEARNING + (
    "adaswitch.grading", "adaswitch.learning", "adaswitch.solver", "adaswitch.response_cache",
    "adaswitch.calibration",
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("adaswitch", cache_dir=None)


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_no_module_imports_itself_through_others(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import circles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_a_circle_would_be_found():
    fake = grimp.ImportGraph()
    for name in ("p.a", "p.b", "p.c", "p.d"):
        fake.add_module(name)
    fake.add_import(importer="p.a", imported="p.b")
    fake.add_import(importer="p.b", imported="p.c")
    fake.add_import(importer="p.c", imported="p.a")
    fake.add_import(importer="p.d", imported="p.a")
    assert import_cycles(fake) == [["p.a", "p.b", "p.c"]]


@pytest.mark.parametrize("layer", BELOW_LEARNING)
def test_the_engine_layers_do_not_import_learning(graph, layer):
    chain = graph.find_shortest_chain(importer=layer, imported="adaswitch.learning", as_packages=True)
    assert chain is None, f"{layer} reaches adaswitch.learning: {' -> '.join(chain or ())}"


@pytest.mark.parametrize("layer", BELOW_EVALUATION)
def test_nothing_below_the_evaluation_driver_imports_it(graph, layer):
    chain = graph.find_shortest_chain(importer=layer, imported="adaswitch.evaluation", as_packages=True)
    assert chain is None, f"{layer} reaches adaswitch.evaluation: {' -> '.join(chain or ())}"


def test_grading_does_not_drive_a_solver(graph):
    for upper in ("adaswitch.solver", "adaswitch.learning", "adaswitch.server", "adaswitch.cli"):
        chain = graph.find_shortest_chain(importer="adaswitch.grading", imported=upper, as_packages=True)
        assert chain is None, f"adaswitch.grading reaches {upper}: {' -> '.join(chain or ())}"

"""The gate between searches and the swap of a newly built graph: searches run together, the swap waits for
those under way, and those that come during the swap wait for it."""

import threading

from tutorbook_retriever.clients.edge.graph_sync import SwapGate

WAIT = 5.0


def test_searches_run_together() -> None:
    gate, both_in = SwapGate(), threading.Barrier(2, timeout=WAIT)

    def search() -> None:
        with gate.searching():
            both_in.wait()  # broken (an error) unless the other search is inside too

    threads = [threading.Thread(target=search) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not both_in.broken


def test_a_swap_waits_for_the_search_under_way_and_holds_back_the_next() -> None:
    gate, order = SwapGate(), []
    searching, swap_waiting, swapped = threading.Event(), threading.Event(), threading.Event()

    def swap() -> None:
        swap_waiting.set()
        with gate.swapping():
            order.append("swap")
        swapped.set()

    with gate.searching():
        searching.set()
        swapper = threading.Thread(target=swap)
        swapper.start()
        assert swap_waiting.wait(WAIT) and not swapped.wait(0.2)  # the swap waits for this search
        order.append("search under way")
    assert swapped.wait(WAIT)
    with gate.searching():
        order.append("next search")
    swapper.join(WAIT)
    assert order == ["search under way", "swap", "next search"]


def test_a_search_that_comes_during_the_swap_waits_for_it() -> None:
    gate, order = SwapGate(), []
    in_swap, release, searched = threading.Event(), threading.Event(), threading.Event()

    def search() -> None:
        with gate.searching():
            order.append("search")
        searched.set()

    with gate.swapping():
        in_swap.set()
        searcher = threading.Thread(target=search)
        searcher.start()
        assert not searched.wait(0.2)
        order.append("swap")
        release.set()
    assert searched.wait(WAIT)
    searcher.join(WAIT)
    assert order == ["swap", "search"]

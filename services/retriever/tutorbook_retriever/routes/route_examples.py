from litestar import delete, get, put
from litestar.datastructures import State

from tutorbook_retriever.ingestion import replace_route_examples
from tutorbook_retriever.schemas import RouteExampleCounts, RouteExamplesRequest, RouteExamplesResponse
from tutorbook_retriever.services import RetrieverServices


@put("/v1/route-examples/{adapter:str}", sync_to_thread=True)
def put_route_examples(adapter: str, data: RouteExamplesRequest, state: State) -> RouteExamplesResponse:
    """Replace the utterances that should route to ``adapter``."""
    services: RetrieverServices = state.services
    count = replace_route_examples(adapter, data.examples, services.embedder, services.store)
    return RouteExamplesResponse(adapter=adapter, examples=count)


@delete("/v1/route-examples/{adapter:str}", status_code=200, sync_to_thread=True)
def delete_route_examples(adapter: str, state: State) -> RouteExamplesResponse:
    services: RetrieverServices = state.services
    services.store.routes.remove(adapter)
    return RouteExamplesResponse(adapter=adapter, examples=0)


@get("/v1/route-examples", sync_to_thread=True)
def count_route_examples(state: State) -> RouteExampleCounts:
    services: RetrieverServices = state.services
    return RouteExampleCounts(adapters=services.store.routes.counts())

"""One connector per system: the only code that knows an API's paths and shapes.

A connector turns the API's records into flat records (`syncmap.runtime.values.ref_key` keys)
for the engine, and flat changes back into request bodies. Requests go through an
`syncmap.runtime.http.ApiClient`, which owns rate limits and retries.
"""

-- POST /items with a JSON body; the handler picks a fresh uuid4 id for every request.
wrk.method = "POST"
wrk.body = '{"name": "widget", "price": 9.5}'
wrk.headers["Content-Type"] = "application/json"

import Testing

@testable import FCGIRuntime

struct RequestMappingTests {
    @Test func paramsMapToRequest() {
        let request = Request(
            params: [
                "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/info", "QUERY_STRING": "token_id=a%2Bb&x=1+2&token_id=second",
                "HTTP_AUTHORIZATION": "Bearer t", "HTTP_X_CUSTOM_THING": "v",
            ], body: Array("{}".utf8))
        #expect(request.method == "POST")
        #expect(request.path == "/api/token/info")
        #expect(request.header("Authorization") == "Bearer t")
        #expect(request.header("x-custom-thing") == "v")
        #expect(request.header("Cookie") == nil)
        #expect(request.queryValue("token_id") == "a+b")
        #expect(request.queryValue("x") == "1 2")
        #expect(request.queryValue("missing") == nil)
        #expect(request.body == Array("{}".utf8))
    }

    @Test func pathFallsBackToRequestURIWithoutQuery() {
        let request = Request(params: ["REQUEST_URI": "/health?x=1"], body: [])
        #expect(request.path == "/health")
        #expect(request.method == "GET")
    }

    @Test func percentDecodingRefusesMalformedEscapes() {
        #expect(PercentDecoding.decode("a%40b.c", plusIsSpace: false) == "a@b.c")
        #expect(PercentDecoding.decode("a+b", plusIsSpace: false) == "a+b")
        #expect(PercentDecoding.decode("%zz", plusIsSpace: false) == nil)
        #expect(PercentDecoding.decode("%4", plusIsSpace: false) == nil)
        #expect(PercentDecoding.decode("%ff%fe", plusIsSpace: false) == nil)
    }

    @Test func responseHeadIsCGIFormAndCannotBeSplit() {
        let response = Response(status: 401, headers: [("X-Ok", "1"), ("X-Bad", "a\r\nSet-Cookie: evil=1")], body: [])
        let head = String(decoding: response.encodedHead(), as: UTF8.self)
        #expect(head == "Status: 401 Unauthorized\r\nX-Ok: 1\r\n\r\n")
    }
}

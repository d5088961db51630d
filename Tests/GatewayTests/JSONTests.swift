import Testing

@testable import GatewayCore
@testable import Handlers

struct JSONTests {
    @Test func parsesAndKeepsIntegersApartFromFractions() throws {
        let value = try JSON.parse(#"{"a":1,"b":1.5,"c":true,"d":null,"e":[1,"x"],"f":"\u00e9\n","g":-0,"h":1e3}"#)
        #expect(value["a"] == .int(1))
        #expect(value["b"] == .double(1.5))
        #expect(value["c"] == .bool(true))
        #expect(value["d"] == .null)
        #expect(value["e"] == .array([.int(1), .string("x")]))
        #expect(value["f"] == .string("é\n"))
        #expect(value["h"] == .double(1000))
        #expect(value["missing"] == nil)
    }

    @Test(arguments: [
        "", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", ".5", "tru", "\"\\x\"", "\"a", "[1] 2",
        "{\"a\":1}}", "\"\u{01}\"", "\"\\ud800\"", "nul", "-", "1e", "{'a':1}",
    ])
    func refusesInvalidJSON(text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func refusesDeepNestingWithoutCrashing() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSON.parse(deep) }
    }

    @Test func encodesEscapesAndKeepsKeyOrder() throws {
        let value: JSON = ["z": "a\"b\\c\n<", "a": [1, true, nil], "m": .double(2.5)]
        #expect(value.text == #"{"z":"a\"b\\c\n\u003c","a":[1,true,null],"m":2.5}"#)
        #expect(try JSON.parse(value.text) == value)
        #expect(JSON.string("é✓").asciiText == #""\u00e9\u2713""#)
    }

    @Test func surrogatePairsDecode() throws {
        #expect(try JSON.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test func stringsWithAndWithoutEscapesReadTheSame() throws {
        #expect(try JSON.parse(#""plain é text""#) == .string("plain é text"))
        #expect(try JSON.parse(#""é\"mixed\u00e9\/ end ✓""#) == .string("é\"mixedé/ end ✓"))
        #expect(try JSON.parse(#"{"k\n":"v"}"#)["k\n"] == .string("v"))
    }

    @Test func invalidUTF8IsRefusedBeforeAndAfterAnEscape() {
        for bytes: [UInt8] in [[0x22, 0xC3, 0x22], [0x22, 0x5C, 0x6E, 0xFF, 0x22], [0x22, 0xC3, 0x5C, 0x6E, 0x22]] {
            #expect(throws: JSONParseError.self) { try JSON.parse(bytes) }
        }
    }

    @Test func encodingEscapesLineSeparatorsAndAsciiTextEscapesEverythingNonASCII() throws {
        let value: JSON = ["s": .string("a\u{2028}b\u{01}&>😀")]
        #expect(value.text == "{\"s\":\"a\\u2028b\\u0001\\u0026\\u003e😀\"}")
        #expect(value.asciiText == #"{"s":"a\u2028b\u0001\u0026\u003e\ud83d\ude00"}"#)
        #expect(try JSON.parse(value.asciiText) == value)
    }
}

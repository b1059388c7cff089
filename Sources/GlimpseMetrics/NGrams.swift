/// Words, n-grams and their counts, shared by BLEU and CIDEr-D.
///
/// Words are interned to integer ids so that hot loops hash two machine words per n-gram
/// instead of concatenated strings.

/// Compares text by Unicode scalars, as Python's `str` does. Swift's `String ==` uses canonical
/// equivalence and would merge a precomposed "é" with "e" + U+0301, which pycocoevalcap keeps apart.
struct ExactText: Hashable {
    let text: Substring

    static func == (lhs: ExactText, rhs: ExactText) -> Bool {
        lhs.text.utf8.elementsEqual(rhs.text.utf8)
    }

    func hash(into hasher: inout Hasher) {
        let hashed: Void? = text.utf8.withContiguousStorageIfAvailable {
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }
        if hashed == nil {
            for byte in text.utf8 { hasher.combine(byte) }
        }
        hasher.combine(0xFF as UInt8)  // no UTF-8 byte is 0xFF: terminates the text
    }
}

/// Assigns each distinct word a small id, starting at 1 (0 marks an empty n-gram slot).
struct Vocabulary {
    private var ids: [ExactText: UInt32] = [:]

    mutating func id(of word: Substring) -> UInt32 {
        let key = ExactText(text: word)
        if let id = ids[key] { return id }
        let id = UInt32(ids.count + 1)
        ids[key] = id
        return id
    }

    mutating func ids(of words: [Substring]) -> [UInt32] { words.map { id(of: $0) } }
}

/// An n-gram of one to four word ids packed into two 64-bit words; unused slots are 0.
struct NGram: Hashable {
    let head: UInt64
    let tail: UInt64

    init(_ ids: ArraySlice<UInt32>) {
        precondition((1...4).contains(ids.count), "n-grams have one to four words")
        var slots: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let start = ids.startIndex
        slots.0 = UInt64(ids[start])
        if ids.count > 1 { slots.1 = UInt64(ids[start + 1]) }
        if ids.count > 2 { slots.2 = UInt64(ids[start + 2]) }
        if ids.count > 3 { slots.3 = UInt64(ids[start + 3]) }
        head = slots.0 << 32 | slots.1
        tail = slots.2 << 32 | slots.3
    }

    /// Number of words, 1…4.
    var order: Int {
        if tail & 0xFFFF_FFFF != 0 { return 4 }
        if tail != 0 { return 3 }
        if head & 0xFFFF_FFFF != 0 { return 2 }
        return 1
    }
}

/// A sentence as pycocoevalcap's `precook` sees it: its word count and the counts of all its
/// 1- to 4-grams.
struct CountedSentence {
    /// Number of words (`len(s.split())`).
    let length: Int
    let counts: [NGram: Int]

    init(words: [UInt32], maximumOrder: Int = 4) {
        length = words.count
        var counts: [NGram: Int] = [:]
        counts.reserveCapacity(words.count * maximumOrder)
        for order in 1...maximumOrder where words.count >= order {
            for start in 0...(words.count - order) {
                counts[NGram(words[start..<(start + order)]), default: 0] += 1
            }
        }
        self.counts = counts
    }
}

/// Python's `str.split()` with no argument: splits on runs of Unicode whitespace (as
/// `str.isspace` defines it) and drops empty pieces. BLEU and CIDEr-D split this way.
func pythonWhitespaceSplit(_ text: String) -> [Substring] {
    var words: [Substring] = []
    var start: String.Index? = nil
    var index = text.startIndex
    let scalars = text.unicodeScalars
    while index < text.endIndex {
        let next = scalars.index(after: index)
        if isPythonWhitespace(scalars[index]) {
            if let s = start { words.append(text[s..<index]); start = nil }
        } else if start == nil {
            start = index
        }
        index = next
    }
    if let s = start { words.append(text[s..<text.endIndex]) }
    return words
}

/// Python's `str.split(" ")`: splits on every single ASCII space and keeps empty pieces, so an
/// empty caption is one empty token. ROUGE-L splits this way.
func pythonSpaceSplit(_ text: String) -> [Substring] {
    text.split(separator: " ", omittingEmptySubsequences: false)
}

/// `str.isspace()` for one code point (CPython's `_Py_ascii_whitespace` and `Py_UNICODE_ISSPACE`).
func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A,
         0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

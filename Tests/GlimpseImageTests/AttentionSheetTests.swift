import GlimpseImage
import Testing

@Suite("Bitmap font")
struct BitmapFontTests {
    @Test("every printable ASCII character but space has ink, and the glyphs differ from one another")
    func glyphsAreDistinct() {
        let characters = (0x21...0x7E).map { Character(Unicode.Scalar(UInt8($0))) }
        let glyphs = characters.map { Array(BitmapFont.glyph(for: $0)) }
        #expect(glyphs.allSatisfy { $0.contains { $0 != 0 } })
        #expect(Set(glyphs.map { $0.map(String.init).joined(separator: ",") }).count == glyphs.count)
        #expect(BitmapFont.glyph(for: " ").allSatisfy { $0 == 0 })
    }

    @Test("non-ASCII characters draw as '?'")
    func fallback() {
        #expect(Array(BitmapFont.glyph(for: "é")) == Array(BitmapFont.glyph(for: "?")))
        #expect(Array(BitmapFont.glyph(for: "\u{1F600}")) == Array(BitmapFont.glyph(for: "?")))
    }

    @Test("'L' is a vertical bar on the left and a bar along the bottom, drawn where asked")
    func drawsL() {
        var image = RGBImage(width: 8, height: 9, fill: (0, 0, 0))
        BitmapFont.draw("L", into: &image, x: 1, y: 1, color: (255, 255, 255))
        for row in 0..<9 {
            for column in 0..<8 {
                let ink = (column == 1 && (1...7).contains(row)) || (row == 7 && (1...5).contains(column))
                #expect(image[column, row].red == (ink ? 255 : 0), "pixel (\(column), \(row))")
            }
        }
        #expect(BitmapFont.width(of: "dog") == 17)
        #expect(BitmapFont.width(of: "dog", scale: 2) == 34)
    }
}

@Suite("Attention sheet")
struct AttentionSheetTests {
    @Test("the sheet holds the caption across the top, the image and one panel per word, five to a row")
    func layout() {
        let image = RGBImage(width: 320, height: 240, fill: (200, 100, 50))
        let words = ["a", "dog", "on", "the", "grass", "today"]
        let grid = 4
        var attention: [[Float]] = []
        for index in words.indices {
            var map = [Float](repeating: 0, count: grid * grid)
            map[index % (grid * grid)] = 1
            attention.append(map)
        }
        let sheet = AttentionSheet.render(image: image, words: words, attention: attention, grid: grid)
        let expected = AttentionSheet.size(imageWidth: 320, imageHeight: 240, words: words)
        #expect(sheet.width == expected.width && sheet.height == expected.height)
        // One line of caption; 7 panels: 5 in the first row, 2 in the second; panels are 224×168.
        let top = 4 + AttentionSheet.lineHeight
        #expect(sheet.width == 4 + 5 * (224 + 4))
        #expect(sheet.height == top + 2 * (168 + AttentionSheet.labelHeight + 4))
        // The caption is drawn in the title strip (light ink on the dark ground), the first glyph at the left.
        let inked = (0..<AttentionSheet.lineHeight).flatMap { y in (0..<300).map { x in sheet[x, 4 + y] } }.filter { $0.red > 200 }
        #expect(inked.count > 100, "\(inked.count) light pixels in the title strip")
        // The first panel is the image itself (a uniform colour survives resizing exactly).
        let centre = sheet[4 + 112, top + 84]
        #expect(centre.red == 200 && centre.green == 100 && centre.blue == 50)
        // Word 0 attends to the top-left cell: hotter (brighter) there than in the far corner.
        let left = 4 + 228
        let hot = sheet[left + 5, top + 5], cold = sheet[left + 219, top + 163]
        let hotBrightness: Int = Int(hot.red) + Int(hot.green)
        let coldBrightness: Int = Int(cold.red) + Int(cold.green)
        #expect(hotBrightness > coldBrightness)
    }

    @Test("a long caption wraps at word boundaries onto as many title lines as it needs")
    func titleWraps() {
        let words = (0..<60).map { "word\($0)" }
        let lines = AttentionSheet.titleLines(words.joined(separator: " "), width: 1144)
        #expect(lines.count > 1 && lines.joined(separator: " ") == words.joined(separator: " "))
        let fitting = (1144 - 8 + 2) / 12
        let longest = lines.map { $0.count }.max() ?? 0
        #expect(longest <= fitting, "longest line \(longest) against \(fitting)")
        let size = AttentionSheet.size(imageWidth: 100, imageHeight: 100, words: words)
        let panelRows = 13 * (224 + AttentionSheet.labelHeight + 4)
        #expect(size.height == 4 + lines.count * AttentionSheet.lineHeight + panelRows)
    }

    @Test("with one common maximum a near-uniform word stays dark beside a peaked one; on its own scale it glows")
    func sharedScale() {
        let image = RGBImage(width: 64, height: 64, fill: (128, 128, 128))
        var peaked = [Float](repeating: 0.01, count: 16)
        peaked[5] = 0.85
        // Spread over every cell (0.03 to 0.1; uniform is 0.0625), which its own range stretches to 70% of the colormap.
        let spread: [Float] = (0..<16).map { 0.03 + Float($0 % 4) * 0.0233 }
        func brightest(_ scale: AttentionSheet.Scale) -> Int {
            let sheet = AttentionSheet.render(image: image, words: ["dog", "the"], attention: [peaked, spread], grid: 4, scale: scale)
            // The third panel (word "the").
            let left = 4 + 2 * (224 + 4), top = 4 + AttentionSheet.lineHeight
            var best = 0
            for y in stride(from: top, to: top + 224, by: 4) {
                for x in stride(from: left, to: left + 224, by: 4) { best = max(best, Int(sheet[x, y].green)) }
            }
            return best
        }
        let own = brightest(.eachWord), shared = brightest(.shared)
        #expect(own > 130, "own scale: \(own)")
        #expect(shared < 90, "shared scale: \(shared)")
    }

    @Test("a sheet drawn from the panel-sized image equals the one drawn from the full image", arguments: [
        (1000, 700), (30, 20), (2000, 3), (160, 160), (161, 90),
    ])
    func panelImageSuffices(width: Int, height: Int) {
        var pixels: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width { pixels += [UInt8((x * 7) % 256), UInt8((y * 13) % 256), UInt8((x + y) % 256)] }
        }
        let image = RGBImage(width: width, height: height, pixels: pixels)
        let panel = AttentionSheet.panelImage(image)
        #expect(max(panel.width, panel.height) == AttentionSheet.panelSize)
        let words = ["a", "red", "square"]
        let attention = words.indices.map { index in (0..<9).map { Float(($0 + index) % 9) / 36 } }
        let full = AttentionSheet.render(image: image, words: words, attention: attention, grid: 3)
        let small = AttentionSheet.render(image: panel, words: words, attention: attention, grid: 3)
        #expect(full.width == small.width && full.height == small.height && full.pixels == small.pixels)
    }

    @Test("viridis runs from dark purple to yellow")
    func colormap() {
        let low = Colormap.viridis(0), high = Colormap.viridis(1), missing = Colormap.viridis(.nan)
        #expect([low.red, low.green, low.blue] == [68, 1, 84])
        #expect([high.red, high.green, high.blue] == [253, 231, 37])
        #expect([missing.red, missing.green, missing.blue] == [68, 1, 84])
    }
}

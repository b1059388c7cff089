import GlimpseSupport
/// Renders what the model looked at for each word of a caption: one sheet with the caption
/// across the top, the image, then one panel per word showing the attention grid upsampled
/// smoothly over a dimmed copy of the image as a viridis heat-map, each panel labelled with its
/// word. Shared by `glimpse caption --attention-dir` and `glimpse batch --html --attention`.
public enum AttentionSheet {
    /// Longest side of each panel, in pixels: large enough to see which part of the image a
    /// word looked at, five panels making a sheet about 1 200 pixels wide.
    public static let panelSize = 224
    /// Panels per row at most.
    public static let panelsPerRow = 5
    /// Space between and around panels.
    public static let gap = 4
    /// Text is drawn at twice the bitmap font's 5 × 7 pixels, to be read without zooming.
    public static let textScale = 2
    /// Height of one line of text with its margins.
    public static let lineHeight = BitmapFont.glyphHeight * textScale + 8
    /// Height of the label strip under each panel.
    public static let labelHeight = lineHeight

    /// How the panels' colours are scaled.
    public enum Scale: String, Sendable, CaseIterable {
        /// Each word's map on its own: (α − its minimum) / its maximum, so every word's peak is
        /// visible, however weak.
        case eachWord = "word"
        /// All panels against one common maximum: α / (the largest α of any word), so a word
        /// whose attention is spread nearly evenly stays dark beside a word that looks at one place.
        case shared
    }

    /// The size of the sheet `render` makes for an image of `width`×`height` and these words.
    public static func size(imageWidth: Int, imageHeight: Int, words: [String]) -> (width: Int, height: Int) {
        let panel = panelDimensions(imageWidth: imageWidth, imageHeight: imageHeight)
        let panels = words.count + 1
        let columns = min(panelsPerRow, panels)
        let rows = (panels + panelsPerRow - 1) / panelsPerRow
        let width = gap + columns * (panel.width + gap)
        let title = titleLines(words.joined(separator: " "), width: width).count * lineHeight
        return (width, gap + title + rows * (panel.height + labelHeight + gap))
    }

    /// The caption broken into lines that fit `width` pixels at `textScale` (a word longer than a
    /// line is cut).
    public static func titleLines(_ text: String, width: Int) -> [String] {
        let fitting = max(1, (width - 2 * gap + textScale) / (BitmapFont.advance * textScale))
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ").map({ String($0.prefix(fitting)) }) {
            if line.isEmpty { line = word } else if line.count + 1 + word.count <= fitting { line += " " + word } else {
                lines.append(line)
                line = word
            }
        }
        return lines + [line]
    }

    static func panelDimensions(imageWidth: Int, imageHeight: Int) -> (width: Int, height: Int) {
        // Keep the aspect ratio; the longer side becomes `panelSize`.
        let longest = max(imageWidth, imageHeight)
        let width = max(1, (imageWidth * panelSize + longest / 2) / longest)
        let height = max(1, (imageHeight * panelSize + longest / 2) / longest)
        return (width, height)
    }

    /// The image at the size of the sheet's panels: `render` of it draws the same sheet as
    /// `render` of `image` itself, so callers can keep this instead of the full image.
    public static func panelImage(_ image: RGBImage) -> RGBImage {
        let panel = panelDimensions(imageWidth: image.width, imageHeight: image.height)
        return Resampler.resize(image, width: panel.width, height: panel.height)
    }

    /// - Parameters:
    ///   - image: the image as decoded (any size), or its `panelImage`.
    ///   - words: the caption's words; `attention[i]` belongs to `words[i]`.
    ///   - attention: per word, α over the grid² locations, row-major.
    ///   - grid: g, the side of the attention grid.
    ///   - scale: each word's colours on its own, or all against one common maximum.
    public static func render(image: RGBImage, words: [String], attention: [[Float]], grid: Int,
                              scale: Scale = .eachWord) -> RGBImage {
        precondition(grid > 0, "the attention grid needs a side")
        precondition(attention.count == words.count, "one attention map per word")
        let resized = panelImage(image)
        let panel = (width: resized.width, height: resized.height)
        let size = size(imageWidth: image.width, imageHeight: image.height, words: words)
        var sheet = RGBImage(width: size.width, height: size.height, fill: (24, 24, 24))

        let title = titleLines(words.joined(separator: " "), width: size.width)
        for (index, line) in title.enumerated() {
            BitmapFont.draw(line, into: &sheet, x: gap, y: gap + index * lineHeight + 3, scale: textScale,
                            color: (250, 250, 250))
        }
        let panelsTop = gap + title.count * lineHeight
        let sharedRange = (floor: Float(0), peak: attention.compactMap { $0.max() }.max() ?? 0)
        let labels = ["image"] + words
        for index in 0..<labels.count {
            let column = index % panelsPerRow, row = index / panelsPerRow
            let left = gap + column * (panel.width + gap)
            let top = panelsTop + row * (panel.height + labelHeight + gap)
            if index == 0 {
                blit(resized, into: &sheet, x: left, y: top)
            } else {
                let map = attention[index - 1]
                precondition(map.count == grid * grid, "attention of word \(index - 1) has \(map.count) values, not \(grid * grid)")
                blit(heatMap(over: resized, attention: map, grid: grid, range: scale == .shared ? sharedRange : nil),
                     into: &sheet, x: left, y: top)
            }
            // Labels longer than the panel are cut, so neighbours stay readable.
            let fitting = max(1, (panel.width + textScale) / (BitmapFont.advance * textScale))
            var label = labels[index]
            if label.count > fitting { label = String(label.prefix(fitting)) }
            let labelX = left + max(0, (panel.width - BitmapFont.width(of: label, scale: textScale)) / 2)
            BitmapFont.draw(label, into: &sheet, x: labelX, y: top + panel.height + 4, scale: textScale, color: (235, 235, 235))
        }
        return sheet
    }

    /// `image` dimmed, with `attention` (g×g) upsampled bilinearly to its size and blended
    /// on top through the colormap. Values are shown as (α − floor) / peak, by default the map's
    /// own minimum and maximum: a sharp peak reaches the top of the colormap whatever its
    /// absolute weight, while a uniform map stays dark instead of having its noise stretched
    /// into false peaks. `range` gives them instead (a sheet's common maximum, `Scale.shared`).
    public static func heatMap(over image: RGBImage, attention: [Float], grid: Int,
                               range: (floor: Float, peak: Float)? = nil) -> RGBImage {
        let peak = max(range?.peak ?? attention.max() ?? 0, 1e-12)
        let floor = range?.floor ?? attention.min() ?? 0
        let width = image.width, height = image.height
        var output = image
        // Sample the grid at pixel centres (half-pixel convention, as image resizers do).
        func coordinate(_ pixel: Int, _ extent: Int) -> (Int, Int, Float) {
            let position = (Float(pixel) + 0.5) * Float(grid) / Float(extent) - 0.5
            let clamped = min(max(position, 0), Float(grid - 1))
            let low = Int(clamped)
            let high = min(low + 1, grid - 1)
            return (low, high, clamped - Float(low))
        }
        let columns = (0..<width).map { coordinate($0, width) }
        for y in 0..<height {
            let (top, bottom, fy) = coordinate(y, height)
            for x in 0..<width {
                let (left, right, fx) = columns[x]
                let upper = attention[top * grid + left] * (1 - fx) + attention[top * grid + right] * fx
                let lower = attention[bottom * grid + left] * (1 - fx) + attention[bottom * grid + right] * fx
                let value = min(max((upper * (1 - fy) + lower * fy - floor) / peak, 0), 1)
                let color = Colormap.viridis(value)
                // Strong attention shows more colour; the image stays visible underneath.
                let alpha = 0.3 + 0.55 * value
                let offset = 3 * (y * width + x)
                for (channel, heat) in [color.red, color.green, color.blue].enumerated() {
                    let dimmed = Float(image.pixels[offset + channel]) * 0.5
                    output.pixels[offset + channel] = UInt8(min(255, max(0, (dimmed * (1 - alpha) + Float(heat) * alpha).rounded())))
                }
            }
        }
        return output
    }

    static func blit(_ source: RGBImage, into destination: inout RGBImage, x: Int, y: Int) {
        for row in 0..<source.height where y + row < destination.height {
            let count = min(source.width, destination.width - x) * 3
            guard count > 0 else { return }
            let from = row * source.width * 3
            let to = 3 * ((y + row) * destination.width + x)
            destination.pixels.replaceSubrange(to..<to + count, with: source.pixels[from..<from + count])
        }
    }
}

/// Perceptual colormaps for heat-maps.
public enum Colormap {
    /// matplotlib's viridis sampled at nine evenly spaced points, interpolated linearly
    /// between them: perceptually uniform and readable in grayscale and by most colour-blind viewers.
    static let viridisAnchors: [(Float, Float, Float)] = [
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ]

    /// The colour of `value` in [0, 1] (clamped).
    public static func viridis(_ value: Float) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let clamped = value.isFinite ? min(max(value, 0), 1) : 0
        let position = clamped * Float(viridisAnchors.count - 1)
        let low = min(Int(position), viridisAnchors.count - 2)
        let fraction = position - Float(low)
        let a = viridisAnchors[low], b = viridisAnchors[low + 1]
        func mix(_ x: Float, _ y: Float) -> UInt8 { UInt8((x + (y - x) * fraction).rounded()) }
        return (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}

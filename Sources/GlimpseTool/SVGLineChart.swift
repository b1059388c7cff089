import Foundation

/// A line chart as inline SVG (no script, no external resource): axes with round-number
/// ticks and labels, one polyline per series, optional point markers and one highlighted
/// point (the best validation). For `glimpse report`.
struct SVGLineChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        /// A CSS colour, such as "#1f77b4".
        var color: String
        /// A dot on every point (validations: a few points, each one meaningful).
        var markers = false
        /// The index in `points` drawn as a ring (the best validation).
        var highlighted: Int? = nil
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var width = 560
    var height = 300

    /// The colour of the first series of every chart: the test of the rendered page looks for it.
    static let lineColor = "#1f77b4"
    static let secondColor = "#d62728"

    // Plot area inside the margins (left: tick labels and the y title).
    private var left: Double { 64 }
    private var right: Double { Double(width) - 16 }
    private var top: Double { 30 }
    private var bottom: Double { Double(height) - 44 }

    /// Points with finite coordinates only (a diverged step logs NaN): they cannot be drawn.
    private var drawable: [Series] {
        series.map { item in
            var copy = item
            copy.points = item.points.filter { $0.x.isFinite && $0.y.isFinite }
            if let index = item.highlighted {
                let point = item.points[index]
                copy.highlighted = copy.points.firstIndex { $0.x == point.x && $0.y == point.y }
            }
            return copy
        }
    }

    func svg() -> String {
        let series = drawable
        let all = series.flatMap(\.points)
        let xTicks = Self.ticks(from: all.map(\.x).min() ?? 0, to: all.map(\.x).max() ?? 1, count: 6, integral: true)
        let yTicks = Self.ticks(from: all.map(\.y).min() ?? 0, to: all.map(\.y).max() ?? 1, count: 5, integral: false)
        let (xLow, xHigh) = (xTicks.first!, xTicks.last!)
        let (yLow, yHigh) = (yTicks.first!, yTicks.last!)
        func px(_ x: Double) -> Double { left + (x - xLow) / (xHigh - xLow) * (right - left) }
        func py(_ y: Double) -> Double { bottom - (y - yLow) / (yHigh - yLow) * (bottom - top) }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }

        var svg = "<svg class=\"chart\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" "
            + "aria-label=\"\(HTMLGallery.escape(title))\">"
        svg += "<title>\(HTMLGallery.escape(title))</title>"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>"
        svg += "<text x=\"\(width / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(HTMLGallery.escape(title))</text>"
        // Grid lines and tick labels.
        let yDecimals = Self.decimals(for: yTicks)
        for tick in yTicks {
            let y = number(py(tick))
            svg += "<line x1=\"\(number(left))\" y1=\"\(y)\" x2=\"\(number(right))\" y2=\"\(y)\" stroke=\"#e5e5e5\"/>"
            svg += "<text x=\"\(number(left - 6))\" y=\"\(y)\" text-anchor=\"end\" dominant-baseline=\"middle\" font-size=\"11\">"
                + Self.label(tick, decimals: yDecimals) + "</text>"
        }
        for tick in xTicks {
            let x = number(px(tick))
            svg += "<line x1=\"\(x)\" y1=\"\(number(bottom))\" x2=\"\(x)\" y2=\"\(number(bottom + 5))\" stroke=\"#444\"/>"
            svg += "<text x=\"\(x)\" y=\"\(number(bottom + 17))\" text-anchor=\"middle\" font-size=\"11\">"
                + Self.label(tick, decimals: 0) + "</text>"
        }
        // Axes and their titles.
        svg += "<line x1=\"\(number(left))\" y1=\"\(number(top))\" x2=\"\(number(left))\" y2=\"\(number(bottom))\" stroke=\"#444\"/>"
        svg += "<line x1=\"\(number(left))\" y1=\"\(number(bottom))\" x2=\"\(number(right))\" y2=\"\(number(bottom))\" stroke=\"#444\"/>"
        svg += "<text x=\"\(number((left + right) / 2))\" y=\"\(height - 8)\" text-anchor=\"middle\" font-size=\"12\">"
            + HTMLGallery.escape(xLabel) + "</text>"
        svg += "<text x=\"14\" y=\"\(number((top + bottom) / 2))\" text-anchor=\"middle\" font-size=\"12\" "
            + "transform=\"rotate(-90 14 \(number((top + bottom) / 2)))\">" + HTMLGallery.escape(yLabel) + "</text>"
        // The series.
        for item in series where !item.points.isEmpty {
            let coordinates = item.points.map { "\(number(px($0.x))),\(number(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline class=\"series\" fill=\"none\" stroke=\"\(item.color)\" stroke-width=\"2.5\" "
                + "stroke-linejoin=\"round\" points=\"\(coordinates)\"/>"
            if item.markers || item.points.count == 1 {
                for point in item.points {
                    svg += "<circle cx=\"\(number(px(point.x)))\" cy=\"\(number(py(point.y)))\" r=\"3.5\" fill=\"\(item.color)\"/>"
                }
            }
            if let index = item.highlighted {
                let point = item.points[index]
                svg += "<circle cx=\"\(number(px(point.x)))\" cy=\"\(number(py(point.y)))\" r=\"7\" fill=\"none\" "
                    + "stroke=\"\(item.color)\" stroke-width=\"2\"><title>best</title></circle>"
            }
        }
        // A legend when there is more than one series.
        if series.count > 1 {
            var x = left + 8
            for item in series {
                svg += "<line x1=\"\(number(x))\" y1=\"\(number(top + 8))\" x2=\"\(number(x + 18))\" y2=\"\(number(top + 8))\" "
                    + "stroke=\"\(item.color)\" stroke-width=\"2.5\"/>"
                svg += "<text x=\"\(number(x + 22))\" y=\"\(number(top + 8))\" dominant-baseline=\"middle\" font-size=\"11\">"
                    + HTMLGallery.escape(item.name) + "</text>"
                x += 30 + Double(item.name.count) * 6.5
            }
        }
        if all.isEmpty {
            svg += "<text x=\"\(number((left + right) / 2))\" y=\"\(number((top + bottom) / 2))\" text-anchor=\"middle\" "
                + "font-size=\"12\" fill=\"#888\">no finite values</text>"
        }
        return svg + "</svg>"
    }

    /// Round-number ticks (1, 2 or 5 times a power of ten apart) covering `low`…`high`, the
    /// first at or below `low` and the last at or above `high`, about `count` of them. A
    /// single value gets a range around it; `integral` axes (steps) never tick between whole numbers.
    static func ticks(from low: Double, to high: Double, count: Int, integral: Bool) -> [Double] {
        var (low, high) = (min(low, high), max(low, high))
        if high - low <= max(abs(high), 1e-300) * 1e-9 {
            // A constant: a range around it (from 0 up for 0, as scores and losses are not negative).
            if integral { (low, high) = (low - 1, high + 1) }
            else if low == 0 { high = 1 }
            else { (low, high) = (low - abs(low) * 0.1, high + abs(high) * 0.1) }
        }
        // The power of ten below the rough step, times 1, 2, 5 or 10, whichever is nearest (as d3 chooses).
        let rough = (high - low) / Double(max(1, count - 1))
        let magnitude = pow(10, floor(log10(rough)))
        let error = rough / magnitude
        var step = magnitude * (error >= 50.0.squareRoot() ? 10 : error >= 10.0.squareRoot() ? 5 : error >= 2.0.squareRoot() ? 2 : 1)
        if integral { step = max(1, step.rounded()) }
        let first = floor(low / step + 1e-9), last = ceil(high / step - 1e-9)
        return stride(from: first, through: last, by: 1).map { $0 * step }
    }

    /// Decimals enough to tell the ticks apart.
    static func decimals(for ticks: [Double]) -> Int {
        guard ticks.count > 1 else { return 0 }
        // -log10 of a step such as 0.01 may come out a hair above or below 2.
        let exponent = -log10(abs(ticks[1] - ticks[0]))
        let places = abs(exponent - exponent.rounded()) < 1e-6 ? exponent.rounded() : ceil(exponent)
        return max(0, min(8, Int(places)))
    }

    static func label(_ value: Double, decimals: Int) -> String {
        // "-0" would read as a different number from "0".
        let text = String(format: "%.\(decimals)f", value)
        return Double(text) == 0 ? String(format: "%.\(decimals)f", 0.0) : text
    }

    /// At most `limit` points: the means of consecutive runs of points (a long run logs every
    /// step, tens of thousands), so the page stays small; the run length is returned to be said.
    static func thinned(_ points: [(x: Double, y: Double)], limit: Int) -> (points: [(x: Double, y: Double)], every: Int) {
        guard points.count > limit, limit > 0 else { return (points, 1) }
        let every = (points.count + limit - 1) / limit
        var result: [(x: Double, y: Double)] = []
        for start in stride(from: 0, to: points.count, by: every) {
            let group = points[start..<min(points.count, start + every)].filter { $0.y.isFinite }
            guard !group.isEmpty else { continue }
            result.append((group.map(\.x).reduce(0, +) / Double(group.count), group.map(\.y).reduce(0, +) / Double(group.count)))
        }
        return (result, every)
    }
}

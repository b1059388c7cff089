import Foundation
import GlimpseImage
import GlimpseSupport

/// The static gallery page of `glimpse batch --html`: opens from disk in any browser,
/// no server. Images are linked by their path relative to the page's folder (not
/// embedded), so the page stays small for large folders and keeps working as long as
/// the page and the images move together.
enum HTMLGallery {
    struct Entry {
        var imagePath: String
        var label: String
        var caption: String?
        var logProbability: Double?
        var error: String?
        /// The image looks unlike the model's training images (`FeatureSummary`).
        var unfamiliar = false
        /// The attention sheet, when one was written.
        var sheetPath: String?
    }

    /// Marks the page as written by `glimpse batch`: a rerun replaces only a page with it.
    static let generatorTag = "<meta name=\"generator\" content=\"glimpse batch\">"

    /// Whether the file at `path` is a page this gallery wrote (so a rerun may replace it), or,
    /// given another page's generator tag, a page of that kind (`glimpse report`'s).
    static func isGalleryPage(_ path: String, generatorTag tag: String = generatorTag) -> Bool {
        guard let bytes = try? FileBytes.readPrefix(path, count: 512).bytes else { return false }
        return bytes.starts(with: Array("<!DOCTYPE html>\n".utf8)) && String(decoding: bytes, as: UTF8.self).contains(tag)
    }

    /// - Parameter note: a line shown above the images (e.g. that the run was interrupted).
    static func page(title: String, entries: [Entry], pageFolder: String, note: String? = nil) -> String {
        var html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">\(generatorTag)
        <title>\(escape(title))</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:1em;background:#fafafa;color:#222}
        .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:1em}
        figure{margin:0;padding:.5em;background:#fff;border:1px solid #ddd;border-radius:4px}
        figure img{max-width:100%;height:auto;display:block}
        figcaption{margin-top:.4em}
        .path{font-size:.8em;color:#666;word-break:break-all}
        .error{color:#b00020}
        .unfamiliar{color:#8a5300;font-size:.9em}
        .sheet{margin-top:.4em}
        .note{padding:.5em;background:#fff3cd;border:1px solid #e0c36c;border-radius:4px}
        </style></head><body>
        <h1>\(escape(title))</h1>
        <p>\(Plural.counted(entries.count, "image")), \(entries.filter { $0.error != nil }.count) failed.</p>
        \(note.map { "<p class=\"note\">\(escape($0))</p>\n" } ?? "")
        <div class="grid">

        """
        for entry in entries {
            let source = url(relativePath(from: pageFolder, to: entry.imagePath))
            html += "<figure>"
            if entry.error == nil {
                html += "<a href=\"\(source)\"><img src=\"\(source)\" loading=\"lazy\" alt=\"\(escape(entry.caption ?? ""))\"></a>"
            }
            html += "<figcaption>"
            if let caption = entry.caption {
                html += escape(caption)
                if let logProbability = entry.logProbability {
                    html += " <span class=\"path\">(\(String(format: "%.2f", logProbability)))</span>"
                }
            }
            if entry.unfamiliar {
                html += "<div class=\"unfamiliar\">unlike the model's training images: the caption is likely wrong</div>"
            }
            if let error = entry.error { html += "<span class=\"error\">\(escape(error))</span>" }
            html += "<div class=\"path\">\(escape(entry.label))</div></figcaption>"
            if let sheet = entry.sheetPath {
                let sheetURL = url(relativePath(from: pageFolder, to: sheet))
                html += "<details class=\"sheet\"><summary>attention</summary><a href=\"\(sheetURL)\">"
                    + "<img src=\"\(sheetURL)\" loading=\"lazy\" alt=\"attention per word\"></a></details>"
            }
            html += "</figure>\n"
        }
        html += "</div></body></html>\n"
        return html
    }

    /// `target` relative to the folder `base` (both made absolute and standardised).
    static func relativePath(from base: String, to target: String) -> String {
        let baseParts = absolute(base)
        let targetParts = absolute(target)
        var common = 0
        while common < baseParts.count, common < targetParts.count,
              baseParts[common].utf8.elementsEqual(targetParts[common].utf8) { common += 1 }
        let ups = Array(repeating: "..", count: baseParts.count - common)
        return (ups + targetParts[common...]).joined(separator: "/")
    }

    /// The components of `path` made absolute, with "." and ".." resolved (by name, as a
    /// browser resolves a relative link; any name `FileName` holds).
    static func absolute(_ path: String) -> [String] {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [String] = []
        for part in full.split(separator: "/").map(String.init) {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return parts
    }

    /// A relative URL: each byte of the path but unreserved ones and "/" percent-encoded,
    /// so names with '#', '?', '%', spaces or bytes that are not UTF-8 link to their file.
    static func url(_ path: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/!$&'()*+,=:@".utf8)
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in FileName.bytes(path) {
            if unreserved.contains(byte) { bytes.append(byte) } else { bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]] }
        }
        return escape(String(decoding: bytes, as: UTF8.self))
    }

    static func escape(_ text: String) -> String {
        var output = ""
        for character in text {
            switch character {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&#39;"
            default: output.append(character)
            }
        }
        return output
    }
}

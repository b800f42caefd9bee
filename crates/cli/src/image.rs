//! Images as model inputs: a PNG or JPEG file is decoded, resized to the
//! model's input height and width, scaled to [0, 1] and laid out as the
//! program's input expects (NHWC when the last axis is 1 or 3, else NCHW).
//! One image is one sample.

use crate::CliError;
use clap::ValueEnum;
use cryptflow_ir::Tensor;
use std::path::Path;

/// How an image is resized to the model's input size.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Resize {
    /// bilinear interpolation (half-pixel centres)
    #[default]
    Bilinear,
    /// nearest neighbour
    Nearest,
}

/// Decoded pixels in [0, 1], row-major, `channels` (1 or 3) per pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<f32>,
}

/// True if `path` names a PNG or JPEG file (by extension).
pub fn is_image(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    matches!(ext.as_str(), "png" | "jpg" | "jpeg")
}

/// Reads an image file and turns it into one sample for a model input of
/// shape `want` ([batch, ...]).
pub fn load_for_model(path: &Path, want: &[usize], resize: Resize) -> Result<Tensor<f32>, CliError> {
    let err = |m: String| CliError::Usage(format!("{}: {m}", path.display()));
    let (h, w, c, nhwc) = image_layout(want).map_err(err)?;
    let bytes = std::fs::read(path).map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
    let img = decode(&bytes).map_err(err)?;
    Ok(to_tensor(&img, want, h, w, c, nhwc, resize))
}

/// (height, width, channels, is NHWC) of an image model input.
pub fn image_layout(want: &[usize]) -> Result<(usize, usize, usize, bool), String> {
    if want.len() != 4 {
        return Err(format!(
            "the model's input has shape {want:?}, not an image (expected [N, H, W, C] or [N, C, H, W]); give a .npy input"
        ));
    }
    let (h, w, c, nhwc) = if matches!(want[3], 1 | 3) {
        (want[1], want[2], want[3], true)
    } else {
        (want[2], want[3], want[1], false)
    };
    if !matches!(c, 1 | 3) {
        return Err(format!(
            "the model's input has shape {want:?}: {c} channels, an image gives 1 or 3; give a .npy input"
        ));
    }
    Ok((h, w, c, nhwc))
}

/// Decodes PNG (by signature) or JPEG bytes.
pub fn decode(bytes: &[u8]) -> Result<Image, String> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        decode_jpeg(bytes)
    } else {
        Err("not a PNG or JPEG image".into())
    }
}

fn decode_png(bytes: &[u8]) -> Result<Image, String> {
    let mut dec = png::Decoder::new(bytes);
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().map_err(|e| format!("bad PNG: {e}"))?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("bad PNG: {e}"))?;
    let (width, height) = (info.width as usize, info.height as usize);
    let (stride, color) = match info.color_type {
        png::ColorType::Grayscale => (1, 1),
        png::ColorType::GrayscaleAlpha => (2, 1),
        png::ColorType::Rgb => (3, 3),
        png::ColorType::Rgba => (4, 3),
        png::ColorType::Indexed => return Err("indexed PNG was not expanded".into()),
    };
    let data = buf[..info.buffer_size()]
        .chunks_exact(stride)
        .flat_map(|px| px[..color].iter().map(|&v| v as f32 / 255.0))
        .collect();
    Ok(Image {
        width,
        height,
        channels: color,
        data,
    })
}

fn decode_jpeg(bytes: &[u8]) -> Result<Image, String> {
    let mut dec = jpeg_decoder::Decoder::new(bytes);
    let pixels = dec.decode().map_err(|e| format!("bad JPEG: {e}"))?;
    let info = dec.info().ok_or("bad JPEG: no image header")?;
    let (width, height) = (info.width as usize, info.height as usize);
    let (channels, data): (usize, Vec<f32>) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (1, pixels.iter().map(|&v| v as f32 / 255.0).collect()),
        jpeg_decoder::PixelFormat::L16 => (
            1,
            pixels
                .chunks_exact(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]) as f32 / 65535.0)
                .collect(),
        ),
        jpeg_decoder::PixelFormat::RGB24 => (3, pixels.iter().map(|&v| v as f32 / 255.0).collect()),
        jpeg_decoder::PixelFormat::CMYK32 => (
            3,
            pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = 1.0 - p[3] as f32 / 255.0;
                    [0, 1, 2].map(|i| (1.0 - p[i] as f32 / 255.0) * k)
                })
                .collect(),
        ),
    };
    Ok(Image {
        width,
        height,
        channels,
        data,
    })
}

/// Resizes `img` to `h` x `w` with `c` channels (luma when going from 3 to
/// 1, replicated when going from 1 to 3) and lays it out as one sample of
/// `want` (batch axis 1).
pub fn to_tensor(img: &Image, want: &[usize], h: usize, w: usize, c: usize, nhwc: bool, resize: Resize) -> Tensor<f32> {
    let pixel = |y: usize, x: usize| -> [f32; 3] {
        let at = (y * img.width + x) * img.channels;
        if img.channels == 1 {
            [img.data[at]; 3]
        } else {
            [img.data[at], img.data[at + 1], img.data[at + 2]]
        }
    };
    let sample = |y: f32, x: f32| -> [f32; 3] {
        match resize {
            Resize::Nearest => {
                // the source pixel whose area holds the centre
                let yi = ((y + 0.5).floor().max(0.0) as usize).min(img.height - 1);
                let xi = ((x + 0.5).floor().max(0.0) as usize).min(img.width - 1);
                pixel(yi, xi)
            }
            Resize::Bilinear => {
                let (y, x) = (
                    y.clamp(0.0, (img.height - 1) as f32),
                    x.clamp(0.0, (img.width - 1) as f32),
                );
                let (y0, x0) = (y.floor() as usize, x.floor() as usize);
                let (y1, x1) = ((y0 + 1).min(img.height - 1), (x0 + 1).min(img.width - 1));
                let (dy, dx) = (y - y0 as f32, x - x0 as f32);
                let (a, b, p, q) = (pixel(y0, x0), pixel(y0, x1), pixel(y1, x0), pixel(y1, x1));
                [0, 1, 2].map(|i| {
                    let top = a[i] + (b[i] - a[i]) * dx;
                    let bottom = p[i] + (q[i] - p[i]) * dx;
                    top + (bottom - top) * dy
                })
            }
        }
    };
    let (sy, sx) = (img.height as f32 / h as f32, img.width as f32 / w as f32);
    let mut data = vec![0f32; h * w * c];
    for oy in 0..h {
        for ox in 0..w {
            let (y, x) = ((oy as f32 + 0.5) * sy - 0.5, (ox as f32 + 0.5) * sx - 0.5);
            let rgb = sample(y, x);
            let vals: Vec<f32> = if c == 1 {
                vec![0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]]
            } else {
                rgb.to_vec()
            };
            for (ch, v) in vals.into_iter().enumerate() {
                let at = if nhwc {
                    (oy * w + ox) * c + ch
                } else {
                    (ch * h + oy) * w + ox
                };
                data[at] = v;
            }
        }
    }
    let mut shape = want.to_vec();
    shape[0] = 1;
    Tensor { shape, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(w: u32, h: u32, color: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(color);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().expect("header");
            wr.write_image_data(data).expect("data");
        }
        out
    }

    #[test]
    fn png_rgba_to_nchw_and_nhwc() {
        // 2x2 RGBA: red, green / blue, white
        let px = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 128];
        let img = decode(&png_bytes(2, 2, png::ColorType::Rgba, &px)).expect("png");
        assert_eq!((img.width, img.height, img.channels), (2, 2, 3));
        let (h, w, c, nhwc) = image_layout(&[1, 3, 2, 2]).expect("nchw");
        assert!(!nhwc);
        let t = to_tensor(&img, &[4, 3, 2, 2], h, w, c, nhwc, Resize::Nearest);
        assert_eq!(t.shape, [1, 3, 2, 2]);
        assert_eq!(t.data, [1., 0., 0., 1., 0., 1., 0., 1., 0., 0., 1., 1.]);
        let (h, w, c, nhwc) = image_layout(&[1, 2, 2, 3]).expect("nhwc");
        let t = to_tensor(&img, &[1, 2, 2, 3], h, w, c, nhwc, Resize::Bilinear);
        assert_eq!(&t.data[..6], &[1., 0., 0., 0., 1., 0.]);
        // gray model input: luma
        let (h, w, c, nhwc) = image_layout(&[1, 2, 2, 1]).expect("gray");
        let t = to_tensor(&img, &[1, 2, 2, 1], h, w, c, nhwc, Resize::Nearest);
        assert!((t.data[0] - 0.299).abs() < 1e-6 && (t.data[3] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn resizes_gray_png() {
        // 4x1 gradient 0, 85, 170, 255 down to 2x1 and up to 8x1
        let img = decode(&png_bytes(4, 1, png::ColorType::Grayscale, &[0, 85, 170, 255])).expect("png");
        let down = to_tensor(&img, &[1, 1, 2, 1], 1, 2, 1, true, Resize::Bilinear);
        assert!(
            (down.data[0] - 0.5 * (0.0 + 85.0) / 255.0).abs() < 1e-6,
            "{:?}",
            down.data
        );
        assert!(
            (down.data[1] - 0.5 * (170.0 + 255.0) / 255.0).abs() < 1e-6,
            "{:?}",
            down.data
        );
        let near = to_tensor(&img, &[1, 1, 2, 1], 1, 2, 1, true, Resize::Nearest);
        assert!(near
            .data
            .iter()
            .all(|v| [0.0, 85.0, 170.0, 255.0].contains(&(v * 255.0).round())));
        let up = to_tensor(&img, &[1, 1, 1, 8], 1, 8, 1, false, Resize::Bilinear);
        assert_eq!(up.shape, [1, 1, 1, 8]);
        assert!(up.data.windows(2).all(|p| p[0] <= p[1]), "{:?}", up.data);
        assert_eq!(up.data[0], 0.0);
        assert_eq!(up.data[7], 1.0);
    }

    #[test]
    fn jpeg_fixture_and_errors() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/images/red-8x6.jpg"
        ))
        .expect("fixture");
        let img = decode(&bytes).expect("jpeg");
        assert_eq!((img.width, img.height, img.channels), (8, 6, 3));
        // JPEG is lossy: red stays close to red
        assert!(
            img.data[0] > 0.9 && img.data[1] < 0.1 && img.data[2] < 0.1,
            "{:?}",
            &img.data[..3]
        );
        assert!(decode(b"GIF89a").is_err());
        assert!(decode(b"\x89PNG\r\n\x1a\nxx").expect_err("bad").starts_with("bad PNG"));
        assert!(image_layout(&[1, 64]).expect_err("rank").contains("not an image"));
        assert!(image_layout(&[1, 4, 8, 8])
            .expect_err("channels")
            .contains("4 channels"));
        assert!(is_image(Path::new("a/B.JPG")) && !is_image(Path::new("x.npy")));
    }
}

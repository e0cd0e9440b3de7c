"""Show why the model said what it said: the picture with the found object's outline, next to what the model saw.

``fashion-lab predict ... --show-input DIR`` writes, per picture, ``<name>.png`` (the 28x28 image the
model saw, pixel for pixel) and ``<name>-explained.png`` from :func:`explain_image`: on the left the
picture as it was analysed, with the frame that was cut off (blue), the object's outline (red) and the
box it was cropped to (yellow), or for a picture that could not be read, the boxes of the objects found;
on the right the model's input enlarged; underneath, the answer.

Example:
    >>> import numpy as np
    >>> from fashion_lab.images import read_picture
    >>> from fashion_lab.predict import Prediction
    >>> picture = np.full((120, 90), 0.95, np.float32); picture[20:100, 30:60] = 0.2
    >>> reading = read_picture(picture)
    >>> explain_image(Prediction(source="shape.png", image=reading.image, reading=reading)).size
    (568, 336)
"""

from __future__ import annotations

import numpy as np

FRAME, OUTLINE, BOX = (40, 110, 255), (255, 40, 40), (255, 200, 0)
HEIGHT = 320  # the panels' height in pixels


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The pixels on the edge of ``mask`` (inside it), ``width`` pixels thick."""
    from scipy import ndimage

    inner = ndimage.binary_erosion(mask, iterations=width, border_value=0)
    return mask & ~inner


def explain_image(prediction):
    """A PIL image: the analysed picture with what was found drawn on it, the model's input, the answer."""
    from PIL import Image, ImageDraw

    found = prediction.reading.found if prediction.reading is not None else prediction.found
    picture = np.clip(found.picture * 255.0, 0, 255).astype(np.uint8)
    rgb = np.stack([picture] * 3, -1)
    top, bottom, left, right = found.frame
    h, w = picture.shape
    if found.mask is not None:
        edge = np.zeros((h, w), bool)
        edge[top:h - bottom, left:w - right] = outline(found.mask, max(1, round(max(h, w) / 160)))
        rgb[edge] = OUTLINE
    left_panel = Image.fromarray(rgb).resize((round(w * HEIGHT / h), HEIGHT), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(left_panel)
    k = HEIGHT / h

    def rectangle(box, colour):
        t, b, lft, r = box
        draw.rectangle([(lft + left) * k, (t + top) * k, (r + left) * k - 1, (b + top) * k - 1], outline=colour, width=2)

    if any(found.frame):
        draw.rectangle([left * k, top * k, (w - right) * k - 1, (h - bottom) * k - 1], outline=FRAME, width=2)
    if found.bbox is not None:
        rectangle(found.bbox, BOX)
    else:
        for obj in found.objects:
            rectangle(obj["bbox"], BOX)
    seen = np.zeros((28, 28), np.uint8) if prediction.image is None else prediction.image
    right_panel = Image.fromarray(seen).resize((HEIGHT * seen.shape[1] // seen.shape[0], HEIGHT),
                                               Image.Resampling.NEAREST).convert("RGB")
    gap, caption = 8, 16
    canvas = Image.new("RGB", (left_panel.width + gap + right_panel.width, HEIGHT + caption), "white")
    canvas.paste(left_panel, (0, 0))
    canvas.paste(right_panel, (left_panel.width + gap, 0))
    ImageDraw.Draw(canvas).text((4, HEIGHT + 2), answer_line(prediction), fill="black")
    return canvas


def answer_line(prediction) -> str:
    """One line: the class and probability (uncertain marked), or why the picture could not be read."""
    if prediction.cannot_read:
        return f"cannot read: {prediction.cannot_read.replace('_', ' ')}"
    if prediction.label is None:
        return "the model's input (not predicted)"
    return f"{prediction.class_name} {prediction.probability:.0%}{' (uncertain)' if prediction.uncertain else ''}"

"""Find the garment in a person's picture: the frame around it, the background behind it, the object itself.

A phone photo is not a clean light-on-black dataset image: the light falls off across the paper, the
sensor adds noise, JPEG adds blocks, the picture may sit inside a frame, and the garment may be small
and off-centre. :func:`find_object` reads such a picture the way a person would, in five steps, each a
function of its own:

1. :func:`find_frame`: a uniform band along an edge (a printed border, a mat, a letterbox) that ends
   in a step of colour is cut off, so it is neither taken for the background nor for the object.
2. Polarity: the background is what covers the picture's edge; a light one is inverted so that the
   object is light on dark, as in the datasets.
3. :func:`fit_background`: a smooth surface (a plane, then a second-order polynomial) fitted by robust
   least squares to the pixels that are not the object, and subtracted: illumination gradients and
   vignetting go, whatever the paper's colour.
4. :func:`separate_objects`: the residual is median-filtered (sensor noise, JPEG blocks), thresholded at
   a data-driven level (Otsu's, and never below 5 noise sigmas), closed (morphology) and labelled into
   connected components; :func:`group_objects` joins the pieces that faint pixels connect (hysteresis)
   or whose boxes overlap. The object is the largest group; its extent grows down to the low threshold,
   so faint edges are kept as the dataset keeps them.
5. Checks: a flat picture, too little contrast for the noise, no object, several objects of similar
   size, or an object that covers the picture's edge on every side raise :class:`CannotRead`, with what
   was found, instead of letting the model guess.

Image operations are SciPy's (``scipy.ndimage``: median filter, morphology, labelling); Otsu's
threshold is its histogram formula (:func:`otsu_threshold`).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[0:200, 0:300]
    >>> photo = 0.8 + 0.15 * x / 300 + rng.normal(0, 0.01, (200, 300))   # light paper, lit from one side, noisy
    >>> photo[60:160, 200:250] = 0.2                                          # a dark garment, off-centre
    >>> found = find_object(photo)
    >>> found.inverted, found.bbox
    (True, (60, 160, 200, 250))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import CannotRead

WORK_SIZE = 320  # pictures are analysed with their longest edge at most this: enough for a 28x28 result, fast
MIN_CONTRAST = 0.04  # the object must stand this far (about 10 grey levels) above the background...
MIN_SNR = 6.0  # ...and this many noise sigmas above it
SIMILAR_SIZE = 0.4  # a second object at least this fraction of the largest's area makes the picture ambiguous
EDGE_COVER = 0.4  # an object on this fraction of the picture's edge, on all four sides, is cut off (or a texture)
EDGE_SPLIT = 0.25  # ...and so is an edge that is two colours this far apart, the rarer on EDGE_COVER of it
NOISE_FLOOR = 0.5 / 255  # quantisation: a clean 8-bit picture still has this much "noise"


@dataclass
class Found:
    """What :func:`find_object` found, in the coordinates of ``picture`` (the analysed picture).

    ``picture`` is the greyscale picture as analysed (shrunk to at most ``WORK_SIZE`` pixels on its
    longest edge; ``scale`` is its size over the original's). ``frame`` is how many of its pixels were cut
    from the top, bottom, left and right. ``signal`` is the picture inside the frame with the background
    removed: the object light (0-1, its brightest part 1), everything else 0. ``mask`` marks the object's
    pixels and ``bbox`` is their box ``(top, bottom, left, right)`` (bottom and right exclusive), both
    inside the frame. ``objects`` lists every component found, largest first (area in pixels and box).
    """

    picture: np.ndarray
    scale: float = 1.0
    frame: tuple[int, int, int, int] = (0, 0, 0, 0)
    inverted: bool = False
    background: float = 0.0
    noise: float = 0.0
    contrast: float = 0.0
    objects: list[dict] = field(default_factory=list)
    signal: np.ndarray | None = None
    mask: np.ndarray | None = None
    bbox: tuple[int, int, int, int] | None = None
    angle: float = 0.0

    def summary(self) -> dict:
        """JSON-ready numbers (no arrays), in the original picture's pixels."""
        out = {"background": "light" if self.background > 0.5 else "dark",
               "background_level": round(self.background, 3), "inverted": self.inverted,
               "noise_sigma": round(self.noise, 4), "contrast": round(self.contrast, 3),
               "frame_px": [round(v / self.scale) for v in self.frame],
               "objects": [{"area_px": round(o["area"] / self.scale ** 2), "box": self.original_box(o["bbox"])}
                           for o in self.objects]}
        if self.bbox is not None:
            out["object_box"] = self.original_box(self.bbox)
        if self.angle:
            out["turned_upright_degrees"] = self.angle
        return out

    def original_box(self, bbox: tuple[int, int, int, int]) -> list[int]:
        """A box inside the frame, in the original picture's pixels: ``[top, bottom, left, right]``."""
        top, _, left, _ = self.frame
        t, b, lft, r = bbox
        return [round((t + top) / self.scale), round((b + top) / self.scale),
                round((lft + left) / self.scale), round((r + left) / self.scale)]


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the level that maximises the between-class variance of ``values``' histogram.

    Example:
        >>> round(otsu_threshold(np.r_[np.zeros(100), np.ones(50)]), 1)
        0.5
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return lo
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    mean = np.cumsum(counts * centres)
    total, total_mean = weight[-1], mean[-1]
    w0, w1 = weight[:-1], total - weight[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mean * w0 - mean[:-1] * total) ** 2 / (w0 * w1)
    between = np.nan_to_num(between)
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))  # a plateau (an empty gap): take its middle
    return float((edges[1:-1][best[0]] + edges[1:-1][best[-1]]) / 2)


def robust_sigma(values: np.ndarray) -> float:
    """The noise's standard deviation from the median absolute deviation (outliers do not move it)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return NOISE_FLOOR
    return max(NOISE_FLOOR, 1.4826 * float(np.median(np.abs(values - np.median(values)))))


def find_frame(picture: np.ndarray, *, tolerance: float = 0.1, step: float = 0.06,
               max_fraction: float = 0.15) -> tuple[int, int, int, int]:
    """How many pixels of a frame to cut from the top, bottom, left and right of ``picture``.

    A side has a frame when its outermost lines are one uniform colour (90% of each line's pixels
    within ``tolerance`` of it) and then the colour steps (line medians change by more than ``step``
    from one line to the next) within ``max_fraction`` of the picture. A gradual drift (a lighting
    gradient) or an object reaching the edge is not a frame, and a frame goes around the picture: at least
    three sides must have one, of one colour. The transition lines after the step (JPEG ringing,
    anti-aliasing) are cut too.

    Example:
        >>> picture = np.full((100, 80), 0.9)
        >>> picture[:5], picture[-5:], picture[:, :5], picture[:, -5:] = 0, 0, 0, 0   # a 5 px black frame
        >>> find_frame(picture)   # the frame and one line of margin
        (6, 6, 6, 6)
    """
    picture = np.asarray(picture, dtype=np.float32)
    sides = (picture, picture[::-1], picture.T, picture.T[::-1])  # top, bottom, left, right: lines from the edge in
    widths = [_frame_width(lines, tolerance, step, max_fraction) for lines in sides]
    colours = [float(np.median(lines[0])) for lines in sides]
    framed = [c for c, w in zip(colours, widths) if w]
    # a frame goes around the photo: three or four sides of one colour (on the fourth the photo may match it)
    if len(framed) < 3 or max(framed) - min(framed) > tolerance:
        return (0, 0, 0, 0)
    return tuple(widths)


def _frame_width(lines: np.ndarray, tolerance: float, step: float, max_fraction: float) -> int:
    limit = max(1, int(len(lines) * max_fraction))
    if len(lines) < 8:
        return 0
    colour = float(np.median(lines[0]))
    medians = [colour]
    for k in range(1, limit + 1):
        if np.mean(np.abs(lines[k - 1] - colour) <= tolerance) < 0.9:
            return 0  # not a uniform band: no frame on this side
        medians.append(float(np.median(lines[k])))
        if abs(medians[k] - medians[k - 1]) > step:
            width = k
            # the step may be spread over a few lines (JPEG, resampling): cut until the colour settles
            while width + 1 < len(lines) // 3 and abs(float(np.median(lines[width + 1])) - medians[-1]) > step / 3:
                medians.append(float(np.median(lines[width + 1])))
                width += 1
            return width + 1  # and one line of margin
    return 0


def fit_background(signal: np.ndarray, background: np.ndarray, *, degree: int = 2, samples: int = 5_000) -> np.ndarray:
    """A smooth surface (polynomial of ``degree`` 1 or 2 in x and y) fitted to ``signal`` where ``background``.

    Robust least squares: fitted, pixels further than 3 sigmas from the fit dropped, fitted again (twice),
    so the pieces of an object among the background pixels do not pull the surface.

    Example:
        >>> y, x = np.mgrid[0:50, 0:60]
        >>> lit = 0.5 + 0.004 * x
        >>> edge = np.ones_like(lit, dtype=bool); edge[5:-5, 5:-5] = False
        >>> float(np.abs(fit_background(lit, edge, degree=1) - lit).max()) < 1e-6
        True
    """
    h, w = signal.shape
    ys, xs = np.nonzero(background)
    if len(ys) > samples:  # an even subsample: the fit needs thousands of points, not millions
        keep = np.linspace(0, len(ys) - 1, samples).astype(int)
        ys, xs = ys[keep], xs[keep]
    values = signal[ys, xs].astype(np.float64)

    def terms(yy, xx):
        yy, xx = yy / max(h - 1, 1) - 0.5, xx / max(w - 1, 1) - 0.5
        columns = [np.ones_like(yy), xx, yy]
        if degree >= 2:
            columns += [xx * xx, xx * yy, yy * yy]
        return np.stack(columns, -1)

    design = terms(ys.astype(np.float64), xs.astype(np.float64))
    keep = np.ones(len(values), bool)
    coef = np.zeros(design.shape[1])
    for _ in range(3):
        if keep.sum() < design.shape[1] * 3:
            break
        a = design[keep]  # normal equations: 6 unknowns, coordinates in [-0.5, 0.5], well conditioned
        coef = np.linalg.solve(a.T @ a + 1e-9 * np.eye(a.shape[1]), a.T @ values[keep])
        residual = values - design @ coef
        keep = np.abs(residual) <= 3 * robust_sigma(residual[keep]) + NOISE_FLOOR
    yy = (np.arange(h, dtype=np.float64) / max(h - 1, 1) - 0.5)[:, None]
    xx = (np.arange(w, dtype=np.float64) / max(w - 1, 1) - 0.5)[None, :]
    surface = coef[0] + coef[1] * xx + coef[2] * yy
    if degree >= 2:
        surface = surface + coef[3] * xx * xx + coef[4] * xx * yy + coef[5] * yy * yy
    return surface.astype(np.float32)


def edge_ring(shape: tuple[int, int], width: int) -> np.ndarray:
    """A boolean mask of the ``width`` outermost pixels on every side."""
    ring = np.ones(shape, bool)
    h, w = shape
    if h > 2 * width and w > 2 * width:
        ring[width:h - width, width:w - width] = False
    return ring


def dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """``mask`` grown by a disk of ``radius`` pixels (through the Euclidean distance transform: fast for any radius)."""
    from scipy import ndimage

    if not mask.any():
        return mask.copy()
    return ndimage.distance_transform_edt(~mask) <= radius


def close(mask: np.ndarray, radius: float) -> np.ndarray:
    """Morphological closing by a disk of ``radius``: gaps narrower than about twice the radius are bridged.
    The picture is padded first, so objects that touch the edge are not eaten."""
    from scipy import ndimage

    pad = int(np.ceil(radius)) + 1
    grown = dilate(np.pad(mask, pad), radius)
    return (ndimage.distance_transform_edt(grown) > radius)[pad:-pad, pad:-pad] | mask


def separate_objects(smooth: np.ndarray, threshold: float, *, closing: float = 1):
    """Label the connected objects of ``smooth > threshold`` after a morphological closing of ``closing`` pixels.

    Returns ``(labels, objects)``: the label image and, largest first, one dict per component with its
    ``label``, ``area`` (pixels) and ``bbox`` ``(top, bottom, left, right)``. Specks smaller than 0.1% of
    the picture (and than 4 pixels) are dropped.
    """
    from scipy import ndimage

    mask = smooth > threshold
    if closing > 0:
        mask = close(mask, closing)
    labels, count = ndimage.label(mask)
    if count == 0:
        return labels, []
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    smallest = max(4, 0.001 * mask.size)
    objects = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is not None and areas[index] >= smallest:
            objects.append({"label": index, "area": int(areas[index]),
                            "bbox": (box[0].start, box[0].stop, box[1].start, box[1].stop)})
    objects.sort(key=lambda o: -o["area"])
    return labels, objects


def group_objects(objects: list[dict], labels: np.ndarray, low_labels: np.ndarray, *, margin: float = 0) -> list[dict]:
    """Join the components of one garment: those that faint pixels connect (the same component of
    ``low_labels``, the picture above a low threshold: hysteresis) or whose boxes overlap (within ``margin``).

    Returns groups, largest first, each with ``labels`` (its components' labels in ``labels``), ``area``
    and ``bbox``.
    """
    objects = objects[:64]  # the largest; the rest are specks
    parent = list(range(len(objects)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owners: dict[int, int] = {}
    for i, o in enumerate(objects):
        for low in np.unique(low_labels[labels == o["label"]]):
            if low and low in owners:
                parent[root(i)] = root(owners[low])
            elif low:
                owners[int(low)] = i
        for j in range(i):
            if _overlaps(o["bbox"], objects[j]["bbox"], margin):
                parent[root(i)] = root(j)
    groups: dict[int, dict] = {}
    for i, o in enumerate(objects):
        g = groups.setdefault(root(i), {"labels": [], "area": 0, "bbox": o["bbox"]})
        g["labels"].append(o["label"])
        g["area"] += o["area"]
        t, b, lft, r = g["bbox"]
        g["bbox"] = (min(t, o["bbox"][0]), max(b, o["bbox"][1]), min(lft, o["bbox"][2]), max(r, o["bbox"][3]))
    return sorted(groups.values(), key=lambda g: -g["area"])


def _overlaps(a, b, margin: int) -> bool:
    return a[0] < b[1] + margin and b[0] < a[1] + margin and a[2] < b[3] + margin and b[2] < a[3] + margin


def shrink(picture: np.ndarray, longest: int = WORK_SIZE) -> tuple[np.ndarray, float]:
    """``picture`` with its longest edge at most ``longest`` (box filter: an average, no aliasing), and the scale."""
    from PIL import Image

    h, w = picture.shape
    scale = min(1.0, longest / max(h, w))
    if scale == 1.0:
        return picture, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(picture.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX))
    return small.astype(np.float32), small.shape[0] / h


def find_object(grey: np.ndarray, *, invert: bool | None = None, name: str = "image") -> Found:
    """Find the one object in a greyscale picture (floats in [0, 1]); see the module's docstring for the steps.

    Args:
        grey: 2-D array of floats in [0, 1] (0 black, 1 white).
        invert: True or False to force the polarity; None (the default) inverts when the background is light.
        name: what to call the picture in messages. Defaults to ``"image"``.

    Raises:
        CannotRead: the picture is flat, has too little contrast for its noise, no object, several objects of
            similar size, or an object that covers its edge on every side. The error's ``found`` holds what was
            found (:meth:`Found.summary`).
    """
    from scipy import ndimage

    picture, scale = shrink(np.asarray(grey, dtype=np.float32))
    found = Found(picture=picture, scale=scale)
    spread = float(picture.max() - picture.min())
    if spread < 2 / 255:
        found.background = float(np.median(picture))
        raise CannotRead(f"{name} is one flat colour (every pixel {found.background * 255:.0f} of 255): there is "
                         f"nothing to recognise; give a picture of one piece of clothing on a plain background.",
                         reason="flat", found=found)
    top, bottom, left, right = found.frame = find_frame(picture)
    inner = picture[top:picture.shape[0] - bottom, left:picture.shape[1] - right]
    h, w = inner.shape
    ring = edge_ring(inner.shape, max(1, round(0.02 * min(h, w))))
    found.background = float(np.median(inner[ring]))
    _check_edge(inner, name, found)
    forced = invert is not None
    found.inverted = bool(found.background > 0.5) if invert is None else bool(invert)
    signal = 1.0 - inner if found.inverted else inner

    residual = signal - fit_background(signal, ring, degree=1)
    small = min(h, w) < 32
    smooth = residual if small else ndimage.median_filter(residual, size=3)
    closing = max(1, round(0.012 * max(h, w)))
    labels, objects, threshold, low = None, [], 0.0, 0.0
    for _ in range(2):  # find the object, refit the background without it, find it again
        sigma = robust_sigma(smooth[ring])
        found.noise = robust_sigma(residual[ring])
        found.contrast = float(np.percentile(smooth, 99.9)) if smooth.size >= 1000 else float(smooth.max())
        if found.contrast < max(MIN_CONTRAST, MIN_SNR * sigma):
            raise CannotRead(_low_contrast(name, found, sigma, forced), reason="low_contrast", found=found)
        threshold = max(otsu_threshold(smooth), 5 * sigma)
        low = max(4 * sigma, 0.03 * found.contrast)  # faint parts of the garment (a light body between dark sleeves)
        labels, objects = separate_objects(smooth, threshold, closing=closing)
        if not objects:
            break
        near = dilate((labels > 0) | (smooth > low), max(1, closing * 2))
        if (~near).sum() < 50:
            break
        residual = signal - fit_background(signal, ~near, degree=1 if small else 2)
        smooth = residual if small else ndimage.median_filter(residual, size=3)
    if not objects:
        raise CannotRead(f"cannot read {name}: no object found (nothing stands {threshold:.2f} above the "
                         f"background); give a picture of one piece of clothing on a plain background.",
                         reason="no_object", found=found)
    low_labels, _ = ndimage.label(smooth > low)
    groups = group_objects(objects, labels, low_labels, margin=closing)
    found.objects = [{"area": g["area"], "bbox": g["bbox"]} for g in groups]
    main = groups[0]
    rivals = [g for g in groups[1:] if g["area"] >= SIMILAR_SIZE * main["area"]]
    if rivals:
        boxes = "; ".join(f"{g['area'] / scale ** 2:,.0f} px at rows {b[0]}-{b[1]}, columns {b[2]}-{b[3]}"
                          for g in [main] + rivals for b in [found.original_box(g["bbox"])])
        raise CannotRead(f"cannot read {name}: {1 + len(rivals)} objects of similar size ({boxes}); give a "
                         f"picture of one piece of clothing, or crop it to one.", reason="several_objects", found=found)
    core = np.isin(labels, main["labels"])
    grown = np.isin(low_labels, np.unique(low_labels[core & (low_labels > 0)]))
    found.mask = core | grown
    rows, cols = np.flatnonzero(found.mask.any(axis=1)), np.flatnonzero(found.mask.any(axis=0))
    found.bbox = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    edge = edge_ring(inner.shape, 1)
    covered = float(found.mask[edge].mean())
    t, b, lft, r = found.bbox
    if t == 0 and lft == 0 and b == h and r == w and covered >= EDGE_COVER:
        raise CannotRead(f"cannot read {name}: the object touches every edge and covers {covered:.0%} of the "
                         f"picture's border (a close-up, or a pattern?); photograph the whole garment with some "
                         f"background around it.", reason="touches_edges", found=found)
    peak = float(np.percentile(smooth[found.mask], 99.5))
    keep = dilate(found.mask, 1)
    found.signal = np.where(keep, np.clip(residual / max(peak, 1e-6), 0.0, 1.0), 0.0).astype(np.float32)
    return found


def upright_angle(mask: np.ndarray, *, max_angle: float = 15.0, gain: float = 0.04) -> float:
    """The rotation (degrees, counter-clockwise) that stands the object in ``mask`` upright, or 0.

    Fashion-MNIST's garments stand straight, and a straight garment fills its bounding box best: the angle
    within ``max_angle`` whose box is smallest is taken when it makes the box at least ``gain`` smaller
    than it is now (a round or symmetric object is left alone).

    Example:
        >>> from scipy import ndimage
        >>> square = np.zeros((100, 100), bool); square[30:70, 30:70] = True
        >>> upright_angle(ndimage.rotate(square, 10, order=0)) in (-10.0, -9.0, -11.0)
        True
    """
    ys, xs = np.nonzero(mask)
    if len(ys) < 20:
        return 0.0
    if len(ys) > 4000:
        keep = np.linspace(0, len(ys) - 1, 4000).astype(int)
        ys, xs = ys[keep], xs[keep]
    ys, xs = ys - ys.mean(), xs - xs.mean()
    angles = np.arange(-max_angle, max_angle + 0.5, 1.0)
    radians = np.deg2rad(angles)[:, None]
    # a point turned counter-clockwise (as ndimage.rotate turns the picture) by each angle; y points down
    rx = xs * np.cos(radians) + ys * np.sin(radians)
    ry = -xs * np.sin(radians) + ys * np.cos(radians)
    areas = (np.ptp(rx, axis=1) + 1) * (np.ptp(ry, axis=1) + 1)
    best = int(np.argmin(areas))
    return float(angles[best]) if areas[best] < (1 - gain) * areas[len(angles) // 2] else 0.0


def _check_edge(inner: np.ndarray, name: str, found: Found) -> None:
    """Refuse a picture whose edge is not background: two distinct colours far apart (not one noisy colour), the
    rarer on much of the edge."""
    edge = inner[edge_ring(inner.shape, 1)]
    level = otsu_threshold(edge)
    dark, light = edge[edge <= level], edge[edge > level]
    if min(dark.size, light.size) < EDGE_COVER * edge.size:
        return
    apart = float(np.median(light) - np.median(dark))
    if apart > EDGE_SPLIT and apart > 4 * (robust_sigma(dark) + robust_sigma(light)):  # two colours, not noise
        found.objects = []
        raise CannotRead(f"cannot read {name}: the object touches every edge (the picture's border is "
                         f"{dark.size / edge.size:.0%} dark, {light.size / edge.size:.0%} light, so there is no plain "
                         f"background around it: a close-up, or a pattern?); photograph the whole garment with "
                         f"some plain background around it.", reason="touches_edges", found=found)


def _low_contrast(name: str, found: Found, sigma: float, forced: bool) -> str:
    what = (f"the brightest part stands {found.contrast:.3f} above the background, with noise of {sigma:.3f} "
            f"(it needs {max(MIN_CONTRAST, MIN_SNR * sigma):.3f})")
    if forced:
        colour = "light" if found.background > 0.5 else "dark"
        expects = "a dark object on a light" if found.inverted else "a light object on a dark"
        hint = (f"the picture's edge is {colour} and --invert {'yes' if found.inverted else 'no'} expects {expects} "
                f"background; let the inversion be automatic (--invert auto)")
        return f"cannot read {name}: no object stands out after {'inverting' if found.inverted else 'reading'} it ({what}); {hint}."
    return (f"cannot read {name}: no object stands out from the background, contrast too low ({what}); give a "
            f"sharper, better-lit picture of one piece of clothing on a plain background.")

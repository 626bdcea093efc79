// The drawing pad the lab's pages share (the network lab, the convolution page): a digit
// written with the mouse, a pen or a finger, white on black as MNIST's digits are, over
// an optional picture (a test image the page asked for). The page sends what is drawn
// to the server (input(): a PNG of the canvas, or the picture's pixels); the server
// centres and scales it as MNIST's digits are.
//
//   const pad = new Pad(canvas, { hint, picture: () => state.sample,
//                                 onMove: requestPredict, onEnd: requestPredict });
//
// picture() returns {pixels, shape} (numbers in 0..1, [h, w]) or null; onStart is called
// when a stroke begins (it is already in pad.strokes), onMove at most every `every` ms
// while it is drawn, onEnd when it ends. pad.stroke is the stroke being drawn (null
// between strokes).

export const LINE = 22;

export function paintPixels(ctx, pixels, shape, size) {
  const [h, w] = shape, cw = size / w, ch = size / h;
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    const v = Math.round(255 * (pixels[i * w + j] ?? 0));
    ctx.fillStyle = `rgb(${v},${v},${v})`;
    ctx.fillRect(j * cw, i * ch, Math.ceil(cw), Math.ceil(ch));
  }
}

export class Pad {
  constructor(canvas, { hint = null, picture = () => null, onStart = () => {}, onMove = () => {},
                        onEnd = () => {}, every = 120 } = {}) {
    Object.assign(this, { canvas, hint, picture, onStart, onMove, onEnd, every });
    this.pen = canvas.getContext("2d");
    this.strokes = [];
    this.stroke = null;
    this.lastMove = 0;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", () => this.end());
    canvas.addEventListener("pointercancel", () => this.end());
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * this.canvas.width / r.width,
            (e.clientY - r.top) * this.canvas.height / r.height];
  }

  down(e) {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.stroke = [this.point(e)];
    this.strokes.push(this.stroke);
    this.onStart();
    this.redraw();
  }

  move(e) {
    if (!this.stroke) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of (events.length ? events : [e])) this.stroke.push(this.point(ev));
    this.redraw();
    const now = performance.now();
    if (now - this.lastMove > this.every) {
      this.lastMove = now;
      this.onMove();
    }
  }

  end() {
    if (!this.stroke) return;
    this.stroke = null;
    this.onEnd();
  }

  // the last stroke taken back; false when there was none
  undo() {
    return this.strokes.pop() !== undefined;
  }

  clear() {
    this.strokes = [];
  }

  // what the server reads: the canvas as a PNG, the picture's pixels, or null
  input() {
    const picture = this.picture();
    if (!this.strokes.length && !picture) return null;
    if (!this.strokes.length) return { pixels: picture.pixels };
    return { image: this.canvas.toDataURL("image/png") };
  }

  redraw() {
    const { pen, canvas } = this, picture = this.picture();
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, canvas.width, canvas.height);
    if (picture) paintPixels(pen, picture.pixels, picture.shape, canvas.width);
    pen.strokeStyle = "#fff";
    pen.fillStyle = "#fff";
    pen.lineWidth = LINE;
    pen.lineCap = "round";
    pen.lineJoin = "round";
    for (const s of this.strokes) {
      pen.beginPath();
      if (s.length === 1) {
        pen.arc(s[0][0], s[0][1], LINE / 2, 0, 2 * Math.PI);
        pen.fill();
        continue;
      }
      pen.moveTo(...s[0]);
      for (const p of s.slice(1)) pen.lineTo(...p);
      pen.stroke();
    }
    if (this.hint) this.hint.hidden = this.strokes.length > 0 || !!picture;
  }
}

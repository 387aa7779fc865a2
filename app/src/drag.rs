//! Dragging an item onto a target with pointer events (mouse, touch, pen), as the
//! pipeline's deals onto stages and the calendar's items onto days. A press starts a
//! drag (not on a control; with a finger only from the item's grip, so elsewhere the
//! page still scrolls), it becomes one past a few pixels, the target under the pointer
//! is highlighted, and the release drops the item there. Each item also has a
//! keyboard way to move (a select or a date field), so nothing depends on dragging.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// A drag in progress: what is dragged, where the press was, and whether it moved far
/// enough to be a drag rather than a tap.
#[derive(Clone, Copy)]
pub struct Drag<T: Copy + 'static> {
    pub item: T,
    x: i32,
    y: i32,
    pub moved: bool,
}

/// The drag state of one board: the drag and the target under the pointer.
pub struct Dragging<T: Copy + Send + Sync + 'static> {
    pub drag: RwSignal<Option<Drag<T>>>,
    pub over: RwSignal<Option<String>>,
    /// The attribute naming a drop target (`data-stage`, `data-day`).
    attribute: &'static str,
}

impl<T: Copy + Send + Sync + 'static> Clone for Dragging<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Copy + Send + Sync + 'static> Copy for Dragging<T> {}

impl<T: Copy + Send + Sync + PartialEq + 'static> Dragging<T> {
    pub fn new(attribute: &'static str) -> Self {
        Dragging { drag: RwSignal::new(None), over: RwSignal::new(None), attribute }
    }

    /// The target under the point, by its attribute's value.
    fn target_at(&self, x: i32, y: i32) -> Option<String> {
        let el = web_sys::window()?.document()?.element_from_point(x as f32, y as f32)?;
        el.closest(&format!("[{}]", self.attribute)).ok()??.get_attribute(self.attribute)
    }

    /// On an item's `pointerdown`.
    pub fn start(&self, item: T, ev: &web_sys::PointerEvent) {
        if ev.button() != 0 {
            return;
        }
        let target = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok());
        let within = |sel: &str| target.as_ref().and_then(|t| t.closest(sel).ok().flatten()).is_some();
        if within("input, select, button, a, label") || (ev.pointer_type() == "touch" && !within(".deal__grip")) {
            return;
        }
        self.drag.set(Some(Drag { item, x: ev.client_x(), y: ev.client_y(), moved: false }));
    }

    /// On the board's `pointermove`.
    pub fn moving(&self, ev: &web_sys::PointerEvent) {
        let Some(mut d) = self.drag.get_untracked() else { return };
        if !d.moved && (ev.client_x() - d.x).abs() + (ev.client_y() - d.y).abs() > 8 {
            d.moved = true;
            self.drag.set(Some(d));
        }
        if d.moved {
            self.over.set(self.target_at(ev.client_x(), ev.client_y()));
        }
    }

    /// On the board's `pointerup`: the dragged item and the target it was dropped on.
    pub fn drop(&self, ev: &web_sys::PointerEvent) -> Option<(T, String)> {
        let d = self.drag.get_untracked()?;
        self.cancel();
        if !d.moved {
            return None;
        }
        ev.prevent_default();
        Some((d.item, self.target_at(ev.client_x(), ev.client_y())?))
    }

    pub fn cancel(&self) {
        self.drag.set(None);
        self.over.set(None);
    }

    /// Whether `item` is being dragged (for its style).
    pub fn is_dragging(&self, item: T) -> bool {
        self.drag.get().is_some_and(|d| d.item == item && d.moved)
    }

    /// Whether the target named `value` is under the dragged item.
    pub fn is_over(&self, value: &str) -> bool {
        self.over.with(|o| o.as_deref() == Some(value))
    }
}

//! The element tree a screening walk is in, run by run (see [`Runs`]).

use super::facts::Field;
use super::{MAX_ELEMENTS, Scope};

/// The items of one data value (an element's own content). Static pieces
/// side by side are gathered side by side, but a substitution next to
/// anything else, or text beside child elements (which a renderer may
/// join), could form a literal that no gathered piece holds.
#[derive(Clone, Copy)]
pub(super) struct Run {
    scope: Scope,
    /// The System value it is the text of, if one we name.
    field: Field,
    items: usize,
    substitution: bool,
    pub(super) children: bool,
}

impl Run {
    pub(super) fn new(scope: Scope) -> Self {
        Run {
            scope,
            field: Field::None,
            items: 0,
            substitution: false,
            children: false,
        }
    }

    /// `None` when a data value mixes pieces in a way the gathered text may
    /// not show.
    fn check(self) -> Option<()> {
        let mixed = (self.substitution && self.items > 1) || (self.items > 0 && self.children);
        (!self.scope.gathered() || !mixed).then_some(())
    }
}

/// Where the walk is in the element tree, following the crate's tree
/// builder state for state (whatever it refuses, this refuses): the
/// elements whose start tag is closed (their runs), and the start tag being
/// read, if any, with whether an attribute value has begun (attributes
/// never become data).
pub(super) struct Runs {
    pub(super) elements: [Run; MAX_ELEMENTS],
    open: usize,
    /// The scope of the element whose start tag is being read.
    start_tag: Option<Scope>,
    /// Its field.
    start_field: Field,
    attribute: bool,
    /// Pieces of the current attribute value, and whether one is a
    /// substitution: gathered System attributes must be one piece (two
    /// would be joined by the renderer into text no gathered piece holds).
    attribute_items: usize,
    attribute_substitution: bool,
    /// A gathered attribute value was made of several pieces.
    mixed_attribute: bool,
}

impl Runs {
    pub(super) fn new(scope: Scope) -> Self {
        Runs {
            elements: [Run::new(scope); MAX_ELEMENTS],
            open: 0,
            start_tag: None,
            start_field: Field::None,
            attribute: false,
            attribute_items: 0,
            attribute_substitution: false,
            mixed_attribute: false,
        }
    }

    /// Whether the attribute being read is gathered.
    fn gathered_attribute(&self) -> bool {
        self.attribute && self.start_tag == Some(Scope::System)
    }

    /// Notes an attribute value's piece; checked when the value ends.
    fn attribute_piece(&mut self, substitution: bool) {
        self.attribute_items += 1;
        self.attribute_substitution |= substitution;
    }

    fn end_attribute(&mut self) {
        if self.gathered_attribute() && self.attribute_substitution && self.attribute_items > 1 {
            self.mixed_attribute = true;
        }
        self.attribute_items = 0;
        self.attribute_substitution = false;
    }

    /// Where a value met now goes: an attribute's value goes where its
    /// element's content does when System attributes are gathered.
    pub(super) fn value_scope(&self) -> Option<Scope> {
        if self.gathered_attribute() {
            return Some(Scope::System);
        }
        self.scope()
    }

    fn current(&mut self) -> &mut Run {
        &mut self.elements[self.open]
    }

    /// Where an element, template instance or substitution met now goes:
    /// `None` inside a start tag.
    pub(super) fn scope(&self) -> Option<Scope> {
        self.start_tag
            .is_none()
            .then_some(self.elements[self.open].scope)
    }

    /// A child element (or a template instance, which expands to elements):
    /// never inside a start tag.
    pub(super) fn child(&mut self) -> Option<()> {
        self.start_tag.is_none().then_some(())?;
        self.current().children = true;
        Some(())
    }

    /// An element start: its start tag is read next.
    pub(super) fn open(&mut self, scope: Scope, field: Field) -> Option<()> {
        self.start_tag.is_none().then_some(())?;
        self.start_tag = Some(scope);
        self.start_field = field;
        Some(())
    }

    /// The field of the content being read (none inside a start tag).
    pub(super) fn field(&self) -> Field {
        match self.start_tag {
            Some(_) => Field::None,
            None => self.elements[self.open].field,
        }
    }

    pub(super) fn attribute(&mut self) -> Option<()> {
        self.start_tag?;
        self.end_attribute();
        self.attribute = true;
        Some(())
    }

    /// The start tag ends; the element's content follows.
    pub(super) fn close_start(&mut self) -> Option<()> {
        self.start_tag?;
        self.end_attribute();
        let scope = self.start_tag.take()?;
        self.attribute = false;
        self.current().children = true;
        self.open += 1;
        *self.elements.get_mut(self.open)? = Run {
            field: self.start_field,
            ..Run::new(scope)
        };
        Some(())
    }

    /// The start tag ends the element (`<x/>`).
    pub(super) fn close_empty(&mut self) -> Option<()> {
        self.start_tag?;
        self.end_attribute();
        self.start_tag.take()?;
        self.attribute = false;
        self.current().children = true;
        Some(())
    }

    pub(super) fn close(&mut self) -> Option<()> {
        if self.start_tag.is_some() || self.open == 0 {
            return None;
        }
        self.open -= 1;
        self.elements[self.open + 1].check()
    }

    /// Text (value text, CDATA, a character or entity reference): whether
    /// to gather it; `None` where the crate has no element to put it in.
    pub(super) fn text(&mut self) -> Option<bool> {
        if self.start_tag.is_some() {
            self.attribute_piece(false);
            return self.attribute.then_some(self.gathered_attribute());
        }
        if self.open == 0 {
            return None;
        }
        let r = self.current();
        r.items += 1;
        Some(r.scope.gathered())
    }

    /// A substitution that is not a nested fragment: placed like text.
    pub(super) fn substitution(&mut self) -> Option<()> {
        if self.start_tag.is_some() {
            self.attribute_piece(true);
            return self.attribute.then_some(());
        }
        if self.open == 0 {
            return None;
        }
        let r = self.current();
        r.items += 1;
        r.substitution = true;
        Some(())
    }

    pub(super) fn finish(self) -> Option<()> {
        (self.open == 0 && self.start_tag.is_none() && !self.mixed_attribute).then_some(())?;
        self.elements[0].check()
    }
}

; TSX (.tsx): the typescript folder's queries (language.toml `extends`) plus JSX
; component references.

; JSX components (capitalised tags; lower-case ones are HTML elements) -------

((jsx_opening_element name: (identifier) @name) @reference.call
  (#match? @name "^[A-Z]"))

((jsx_self_closing_element name: (identifier) @name) @reference.call
  (#match? @name "^[A-Z]"))

(jsx_opening_element
  name: (member_expression object: (_) @receiver property: (property_identifier) @name)) @reference.call

(jsx_self_closing_element
  name: (member_expression object: (_) @receiver property: (property_identifier) @name)) @reference.call

package jobs

// Builtin returns a new registry holding every job kind that ships with
// jetrun. This is the one place a new kind is listed.
func Builtin() *Registry {
	r, err := NewRegistry(
		Smoke{},
		UploadRepo{},
		UploadFile{},
		Collection{},
	)
	if err != nil {
		panic(err) // a duplicate built-in kind is a programming error
	}
	return r
}

module jobpulse.test/gotemplate

go 1.22
